/** Revelation requests: ask, answer on each guardian's machine, combine (docs/revelation-requests.md). */
export { answerRequest, type AskedItem, checkRequest, readRequestFile, type RequestView } from './answer.js';
export { type CombineEvents, combineResponses, type CombineResult, type PartyRef } from './combine.js';
export { REQUEST_SUFFIX, RESPONSE_SUFFIX } from './file-names.js';
export { writeNewFile } from './new-file.js';
export { makeRevelationRequest, type RequestSummary } from './request.js';
export { createRequesterKeyFile, readRequesterKeyFile } from './requester-key.js';
