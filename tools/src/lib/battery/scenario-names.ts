/** The battery profiler's scenarios by name (docs/battery.md): on their own so that the CLI's option list does not load the profiler. */
export const SCENARIO_NAMES = ['default', 'audio-only', 'sparse', 'replay'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];
