import type { FastifyBaseLogger } from 'fastify'
import type { Store } from '../store/types.ts'
import type { RunDriver } from './driver.ts'

const ORPHANS_PER_SWEEP = 100

/**
 * Resumes runs whose driver died (their lease lapsed) and releases budget reservations left by
 * crashes: once at start-up and every `intervalMs`, on every instance.
 */
export function createRunSweeper ({ store, driver, log, intervalMs }: { store: Store, driver: RunDriver, log: FastifyBaseLogger, intervalMs: number }) {
  let timer: NodeJS.Timeout | undefined

  async function sweep (): Promise<void> {
    try {
      for (const run of await store.listOrphanedRuns(ORPHANS_PER_SWEEP)) driver.kick(run.id)
      const released = await store.releaseExpiredReservations()
      if (released > 0) log.info({ released }, 'released expired budget reservations')
    } catch (err) {
      log.warn({ err }, 'run sweep failed')
    }
  }

  return {
    start (): void {
      sweep().catch(() => {})
      timer = setInterval(() => { sweep().catch(() => {}) }, intervalMs)
      timer.unref()
    },
    stop (): void {
      clearInterval(timer)
    }
  }
}
