import { resolve } from 'node:path'
import { createChangeListeners, type ChangeFeed, type ChangeListeners, type FeedLogger } from '../change-feed.ts'

/** The handles this process has open, per database file. */
const handlesByFile = new Map<string, Set<ChangeListeners>>()

/**
 * The SQLite store serves one gateway instance, so its feed is in-process: a publish reaches the
 * listeners of every handle this process has open on the same file (this one included), never another
 * process. Delivery waits for the current call to return (a microtask), so a listener never runs inside
 * the store operation that published, and it is never lost: there is no connection to drop, and so no
 * resync either.
 */
export function createSqliteChangeFeed (path: string, log?: FeedLogger): ChangeFeed & { close: () => void } {
  const listeners = createChangeListeners(log)
  const file = path === ':memory:' ? null : resolve(path)
  const handles = (file === null ? undefined : handlesByFile.get(file)) ?? new Set<ChangeListeners>()
  if (file !== null) handlesByFile.set(file, handles)
  handles.add(listeners)
  let closed = false

  return {
    async publish (kind, id) {
      if (closed) throw new Error('The SQLite store is closed')
      const targets = [...handles]
      queueMicrotask(() => { for (const target of targets) target.dispatch(kind, id) })
    },
    subscribe (kind, listener) {
      if (closed) throw new Error('The SQLite store is closed')
      return listeners.subscribe(kind, listener)
    },
    onResync: listeners.onResync,
    close () {
      closed = true
      handles.delete(listeners)
      if (file !== null && handles.size === 0) handlesByFile.delete(file)
    }
  }
}
