export interface UntilOptions {
  /** Give up after this long; generous, since it only bounds a test that is failing anyway. */
  timeoutMs?: number
  intervalMs?: number
  /** The state waited for, as the failure will name it ("the run to hold its upstream response id"). */
  message?: string
}

type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>

/**
 * Waits for a state, not for time: calls `check` until it returns something truthy and resolves with
 * that value, or rejects naming what it waited for. A check that throws fails at once (wrap it with
 * `.catch(() => null)` where errors are part of the wait, such as a store that is restarting).
 */
export async function until<T> (check: () => T | Promise<T>, { timeoutMs = 10_000, intervalMs = 10, message = 'the condition' }: UntilOptions = {}): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as Truthy<T>
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`)
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}
