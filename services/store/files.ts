import type { Fields } from './fields.ts'
import type { Page, PageQuery } from './page.ts'

export interface FileRecord {
  id: string
  owner: string
  filename: string
  bytes: number
  purpose: 'user_data' | 'vision'
  /** Media type identified from the bytes. */
  mime: string
  created_at: number
}

export const FILE_FIELDS: Fields<FileRecord> = {
  id: 'raw',
  owner: 'raw',
  filename: 'value',
  bytes: 'value',
  purpose: 'value',
  mime: 'value',
  created_at: 'value'
}

export interface FileStore {
  /** Inserts the file; with `maxPerOwner`, atomically only while its owner holds fewer (false, nothing written, otherwise). */
  createFile (file: FileRecord, maxPerOwner?: number): Promise<boolean>
  /** How many files the owner holds. */
  countFiles (owner: string): Promise<number>
  getFile (id: string): Promise<FileRecord | null>
  listFiles (owner: string, page: PageQuery): Promise<Page<FileRecord>>
  deleteFile (id: string): Promise<void>
}
