/**
 * What may be logged about a failed connector or botbuilder call: its class, code and HTTP status.
 * The full error can carry the request (with its Authorization header) or the activity (with the
 * user's text), so neither is passed to the logger.
 */
export function describeError(error: unknown): { name: string; code?: string; status?: number } {
  if (typeof error !== 'object' || error === null) return { name: typeof error };
  const { name, code, statusCode } = error as { name?: unknown; code?: unknown; statusCode?: unknown };
  return {
    name: typeof name === 'string' ? name : 'Error',
    ...(typeof code === 'string' ? { code } : {}),
    ...(typeof statusCode === 'number' ? { status: statusCode } : {}),
  };
}
