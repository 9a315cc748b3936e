/** The deployment-kit check's verdicts: one `ok N - …` / `not ok N - …` line each, counted. */
let passed = 0
let failed = 0
export const notChecked: string[] = []

export function report (ok: boolean, what: string, detail = ''): boolean {
  if (ok) passed++
  else failed++
  console.log(`${ok ? 'ok' : 'not ok'} ${passed + failed} - ${what}${detail && !ok ? `\n  ${detail.trim().split('\n').slice(-40).join('\n  ')}` : ''}`)
  return ok
}

export const section = (title: string) => console.log(`# ${title}`)
export const counts = () => ({ passed, failed })
