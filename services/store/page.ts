export type Order = 'asc' | 'desc'
export interface PageQuery { limit: number, order: Order, after?: string }
export interface Page<T> { data: T[], hasMore: boolean }
