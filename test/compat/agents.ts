import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BUNDLED_AGENTS_FILE } from '../../services/assistants/agents-file.ts'
import { tempDir } from '../helpers/build.ts'

interface Teardown { teardown: (fn: () => unknown) => void }
type Agent = Record<string, unknown> & { id: string }

/**
 * The bundled profiles with per-profile changes, written to a temp file for AGENTS_FILE — as an operator
 * migrating an SPA would add its retired `asst_…` ids as aliases, or let one profile take
 * additional_instructions.
 */
export function agentsFileWith (t: Teardown, changes: Record<string, Partial<Agent>>): string {
  const bundled = JSON.parse(readFileSync(BUNDLED_AGENTS_FILE, 'utf8')) as { agents: Agent[] }
  bundled.agents = bundled.agents.map(agent => ({ ...agent, ...changes[agent.id] }))
  const path = join(tempDir(t, 'agw-compat-agents-'), 'agents.json')
  writeFileSync(path, JSON.stringify(bundled, null, 2))
  return path
}
