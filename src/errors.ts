/**
 * An error caused by the user's input or environment (a bad config, a malformed dataset row, a
 * missing file): the CLI prints its message alone, without a stack trace. Messages name the
 * problem and the place (file, row, field, config key).
 */
export class PulseError extends Error {
  override name = 'PulseError';
}
