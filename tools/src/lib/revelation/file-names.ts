/** How request and response files are named: on their own so that the CLI's help can say it without the request code. */
export const REQUEST_SUFFIX = '.shidi-request';
export const RESPONSE_SUFFIX = '.shidi-response';
