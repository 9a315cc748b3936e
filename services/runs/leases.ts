import type { FastifyBaseLogger } from 'fastify'
import type { Store } from '../store/types.ts'

/**
 * The run leases this process holds. One ticker renews them all (not a timer per run); a lease that
 * another worker has taken meanwhile (the fence moved) is reported lost, and its driver stops.
 */
export function createLeaseKeeper ({ store, workerId, leaseMs, log }: { store: Store, workerId: string, leaseMs: number, log: FastifyBaseLogger }) {
  const held = new Map<string, { fence: number, onLost: () => void }>()
  let renewing = false

  const ticker = setInterval(() => {
    if (renewing || held.size === 0) return
    renewing = true
    Promise.all([...held].map(([runId, lease]) => store.renewRun(runId, workerId, lease.fence, leaseMs)
      .then(kept => { if (!kept && held.get(runId) === lease) lease.onLost() })
      .catch(err => log.warn({ err, runId }, 'lease renewal failed'))))
      .finally(() => { renewing = false })
  }, Math.max(100, Math.floor(leaseMs / 3)))
  ticker.unref()

  return {
    workerId,
    leaseMs,
    /** Claims the run's lease for this process; the fence, or null when another worker holds it. */
    claim: (runId: string) => store.claimRun(runId, workerId, leaseMs),
    /** Keeps the claimed lease alive until dropped. */
    hold (runId: string, fence: number, onLost: () => void): void {
      held.set(runId, { fence, onLost })
    },
    drop (runId: string): void {
      held.delete(runId)
    },
    /**
     * Hands the lease back: at once (graceful shutdown: another worker resumes the run now), or parked
     * until `resumeAt` (Unix ms), for a paused run that needs no driver before it expires.
     */
    release: (runId: string, fence: number, resumeAt?: number) => store.releaseRun(runId, workerId, fence, resumeAt).catch(() => false),
    close (): void {
      clearInterval(ticker)
    }
  }
}
export type LeaseKeeper = ReturnType<typeof createLeaseKeeper>
