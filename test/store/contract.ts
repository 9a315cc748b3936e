import type { Test } from 'tap'
import { assistantsContract } from './contract/assistants.ts'
import { auditContract } from './contract/audit.ts'
import { budgetsContract } from './contract/budgets.ts'
import { changeFeedContract } from './contract/change-feed.ts'
import { filesContract } from './contract/files.ts'
import { setupWith, type OpenStore } from './contract/fixtures.ts'
import { handlesContract } from './contract/handles.ts'
import { idempotencyContract } from './contract/idempotency.ts'
import { messagesContract } from './contract/messages.ts'
import { ownerCapsContract } from './contract/owner-caps.ts'
import { recordsContract } from './contract/records.ts'
import { runsContract } from './contract/runs.ts'
import { safetyIdentifiersContract } from './contract/safety-identifiers.ts'
import { threadLocksContract } from './contract/thread-locks.ts'
import { threadsContract } from './contract/threads.ts'
import { usersContract } from './contract/users.ts'
import { webhookEventsContract } from './contract/webhook-events.ts'

export type { OpenStore, StoreUnderTest } from './contract/fixtures.ts'

/** The store contract (one file per domain under contract/), run against one backend. */
export async function storeContract (tap: Test, name: string, open: OpenStore): Promise<void> {
  const setup = setupWith(open)
  await tap.test(`${name} store contract`, async tap => {
    threadsContract(tap, setup)
    messagesContract(tap, setup)
    filesContract(tap, setup)
    ownerCapsContract(tap, setup)
    threadLocksContract(tap, setup)
    runsContract(tap, setup)
    assistantsContract(tap, setup)
    idempotencyContract(tap, setup)
    budgetsContract(tap, setup)
    handlesContract(tap, setup)
    recordsContract(tap, setup)
    changeFeedContract(tap, setup)
    usersContract(tap, setup)
    safetyIdentifiersContract(tap, setup)
    webhookEventsContract(tap, setup)
    auditContract(tap, setup)
  })
}
