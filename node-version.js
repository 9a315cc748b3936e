// Refuses, in one line, a Node.js older than package.json's `engines` admits. Plain JavaScript with no
// imports but node:fs, so it loads on any Node: `npm start` runs it first (prestart, since an old Node
// cannot even load server.ts), and server.ts imports it before anything else (the built dist/server.js
// would otherwise exit 0, silently, where import.meta.main is missing). Floor, and why:
// type stripping unflagged (22.18), node:sqlite unflagged (22.13), import.meta.main (22.18 and 24.2;
// the 23 line never had it), openai@7 and other dependencies declare 22.
import { readFileSync } from 'node:fs'

/** Whether `version` (x.y.z) satisfies `range`: `>=x.y.z` and `^x.y.z` alternatives joined by `||`. */
export function satisfies (version, range) {
  const parse = (v) => v.replace(/^v/, '').split('.').map(Number)
  const compare = (a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]
  const have = parse(version)
  return range.split('||').some((alternative) => {
    const match = /^\s*(>=|\^)\s*(\d+)\.(\d+)\.(\d+)\s*$/.exec(alternative)
    if (!match) throw new Error(`node-version.js understands only >=x.y.z and ^x.y.z in engines.node, not '${alternative.trim()}'`)
    const floor = [Number(match[2]), Number(match[3]), Number(match[4])]
    return compare(have, floor) >= 0 && (match[1] === '>=' || have[0] === floor[0])
  })
}

/** The one-line refusal for this Node, or undefined when it is new enough. */
export function nodeVersionProblem (version = process.versions.node, pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'))) {
  const range = pkg.engines?.node
  if (!range || satisfies(version, range)) return undefined
  return `${pkg.name} needs Node.js ${range}, not ${version} (${process.execPath}): install a newer one, or start it ` +
    'with npm start after an npm ci that keeps optional dependencies (they bring Node.js 24 on Linux x64 and arm64).'
}

const problem = nodeVersionProblem()
if (problem) {
  process.stderr.write(`${problem}\n`)
  process.exit(1)
}
