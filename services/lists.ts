import { listPage, type ListPage, type ListQuery } from '../schemas/common.ts'
import { invalidArgument } from './errors.ts'

/** A list read in one direction from a cursor (`after`), as every store and upstream list is. */
export type ForwardQuery = Omit<ListQuery, 'before'>

/**
 * Every list's paging rule: `before` is `after` read in the other order, the page turned back round.
 * `read` only ever reads forwards.
 */
export async function readPage<T extends { id: string }> (query: ListQuery, read: (query: ForwardQuery) => Promise<ListPage<T>>): Promise<ListPage<T>> {
  const { before, ...forward } = query
  if (before === undefined) return read(forward)
  if (forward.after !== undefined) throw invalidArgument('before', 'cannot be given with after')
  const page = await read({ limit: forward.limit, order: forward.order === 'asc' ? 'desc' : 'asc', after: before })
  return listPage([...page.data].reverse(), page.has_more)
}

/** A page of a list held whole in memory (a run's steps, the assistants), by the same rules. */
export function pageOf<T extends { id: string }> (items: T[], query: ListQuery): Promise<ListPage<T>> {
  return readPage(query, async ({ limit, order, after }) => {
    const ordered = order === 'desc' ? [...items].reverse() : items
    const start = after === undefined ? 0 : ordered.findIndex(item => item.id === after) + 1
    // An unknown cursor is an empty page, as for every list.
    if (after !== undefined && start === 0) return listPage([], false)
    return listPage(ordered.slice(start, start + limit), start + limit < ordered.length)
  })
}
