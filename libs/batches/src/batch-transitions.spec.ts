import { EXPIRABLE_STATUSES, LIVE_STATUSES, TERMINAL_STATUSES } from './batch-transitions';

describe('status lists derived from the transitions', () => {
  it('calls live what some transition leaves, terminal what none leaves, and expirable what expire leaves', () => {
    expect([...LIVE_STATUSES].sort()).toEqual(['cancelling', 'finalizing', 'in_progress', 'validating']);
    expect([...TERMINAL_STATUSES].sort()).toEqual(['cancelled', 'completed', 'expired', 'failed']);
    expect([...EXPIRABLE_STATUSES].sort()).toEqual(['in_progress', 'validating']);
  });
});
