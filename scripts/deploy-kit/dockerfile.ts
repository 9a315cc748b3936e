/**
 * The Dockerfile, carried out without a container engine: the build context as .dockerignore filters it,
 * then each stage's WORKDIR, ENV, COPY (also --from), RUN (in the sandbox), USER, VOLUME, CMD and
 * HEALTHCHECK, in order, from the file's own text (dockerfile-ast), so the recipe cannot drift from what
 * is checked. Base images: the official node:<version>-bookworm-slim, emulated by that Node release
 * from the npm registry at /usr/local/bin.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, posix } from 'node:path'
import { DockerfileParser, type Instruction } from 'dockerfile-ast'
import { registryNode } from '../registry-node.ts'
import { report } from './report.ts'
import { giveAway, IMAGE_PATH, NPM_ENV, runIn, WORK, type Sandbox } from './sandbox.ts'

const ROOT = join(import.meta.dirname, '..', '..')

function globToRegExp (pattern: string): RegExp {
  let source = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '*' && pattern[i + 1] === '*') {
      source += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*'
      i += pattern[i + 2] === '/' ? 2 : 1
    } else if (c === '*') source += '[^/]*'
    else if (c === '?') source += '[^/]'
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${source}$`)
}

/** Docker's rule: the last pattern matching the path or one of its parents decides; `!` re-includes. */
function dockerignore (text: string): { ignored: (path: string) => boolean, mayReinclude: (dir: string) => boolean } {
  const rules = text.split('\n').map(l => l.trim()).filter(l => l && !l.startsWith('#')).map(line => {
    const negate = line.startsWith('!')
    const pattern = posix.normalize((negate ? line.slice(1) : line).trim()).replace(/^\/+|\/+$/g, '')
    return { negate, pattern, re: globToRegExp(pattern) }
  })
  const ignored = (path: string) => {
    const parts = path.split('/')
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
    let result = false
    for (const rule of rules) if (candidates.some(c => rule.re.test(c))) result = !rule.negate
    return result
  }
  const mayReinclude = (dir: string) => rules.some(r => r.negate && (r.pattern.startsWith(`${dir}/`) || r.pattern.startsWith('**')))
  return { ignored, mayReinclude }
}

export function buildContext (into: string): string[] {
  const ignore = existsSync(join(ROOT, '.dockerignore')) ? dockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8')) : { ignored: () => false, mayReinclude: () => true }
  const files: string[] = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = dir ? `${dir}/${entry.name}` : entry.name
      if (entry.isDirectory()) {
        if (!ignore.ignored(path) || ignore.mayReinclude(path)) walk(path)
      } else if (!ignore.ignored(path)) {
        files.push(path)
        mkdirSync(join(into, dir), { recursive: true })
        cpSync(join(ROOT, path), join(into, path))
      }
    }
  }
  walk('')
  return files
}

export interface Stage {
  name: string
  fs: string
  workdir: string
  user: string
  env: Record<string, string>
  cmd?: string[]
  healthcheck?: string[]
  volumes: string[]
  nodeBin: string
}

/** A path inside a stage's filesystem, on the host. */
export const onHost = (stage: Stage, path: string) => join(stage.fs, path)

export function stageSandbox (stage: Stage, env: Record<string, string> = {}): Sandbox {
  const home = stage.user === 'root' ? '/root' : '/home/node'
  return { root: stage.fs, binds: [{ host: stage.nodeBin, path: '/usr/local/bin', readOnly: true }], cwd: stage.workdir, env: { PATH: IMAGE_PATH, HOME: home, ...stage.env, ...env } }
}

/** /usr/local/bin of the official node image: node, npm and npx (npm itself from this machine). */
function imageBin (version: string): string {
  const dir = join(WORK, `node-${version}-bin`)
  if (existsSync(dir)) return dir
  mkdirSync(dir)
  const node = registryNode(version)
  try { linkSync(node, join(dir, 'node')) } catch { cpSync(node, join(dir, 'node')) }
  chmodSync(join(dir, 'node'), 0o755)
  const npmRoot = dirname(dirname(execFileSync('sh', ['-c', 'readlink -f "$(command -v npm)"'], { encoding: 'utf8' }).trim()))
  writeFileSync(join(dir, 'npm'), `#!/bin/sh\nexec /usr/local/bin/node ${npmRoot}/bin/npm-cli.js "$@"\n`, { mode: 0o755 })
  writeFileSync(join(dir, 'npx'), `#!/bin/sh\nexec /usr/local/bin/node ${npmRoot}/bin/npx-cli.js "$@"\n`, { mode: 0o755 })
  return dir
}

function words (instruction: Instruction): string[] {
  return (instruction.getArgumentsContent() ?? '').trim().split(/\s+/).filter(Boolean)
}

function jsonForm (text: string): string[] | undefined {
  const trimmed = text.trim()
  if (!trimmed.startsWith('[')) return undefined
  return JSON.parse(trimmed) as string[]
}

function copyInto (from: string, sources: string[], dest: string, missing: (source: string) => void): void {
  const intoDir = dest.endsWith('/') || sources.length > 1
  for (const source of sources) {
    const path = join(from, source)
    if (!existsSync(path)) { missing(source); continue }
    if (statSync(path).isDirectory()) cpSync(path, dest, { recursive: true })
    else {
      const target = intoDir || (existsSync(dest) && statSync(dest).isDirectory()) ? join(dest, basename(source)) : dest
      mkdirSync(dirname(target), { recursive: true })
      cpSync(path, target)
    }
  }
}

export function buildStages (dockerfileText: string, context: string): Map<string, Stage> {
  const dockerfile = DockerfileParser.parse(dockerfileText)
  const globalArgs: Record<string, string> = {}
  for (const arg of dockerfile.getInitialARGs()) {
    const property = arg.getProperty()
    if (property?.getName()) globalArgs[property.getName()] = property.getValue() ?? ''
  }
  const expand = (text: string) => text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => globalArgs[a ?? b] ?? '')
  const stages = new Map<string, Stage>()
  let stage: Stage | undefined
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword()
    const text = instruction.getArgumentsContent() ?? ''
    const line = `${keyword} ${text}`.slice(0, 110)
    if (keyword === 'ARG' && !stage) continue
    if (keyword === 'FROM') {
      const [image, as, name] = expand(text).trim().split(/\s+/)
      const fs = join(WORK, 'stages', name ?? `stage-${stages.size}`)
      const parent = stages.get(image!)
      if (parent) {
        mkdirSync(dirname(fs), { recursive: true })
        execFileSync('cp', ['-a', '--link', parent.fs, fs])
        stage = { ...parent, name: name!, fs, env: { ...parent.env }, volumes: [...parent.volumes] }
      } else {
        const match = /^node:(\d+\.\d+\.\d+)-bookworm-slim$/.exec(image!)
        if (!match || as?.toUpperCase() !== 'AS') throw new Error(`${line}: this check knows the official node:<version>-bookworm-slim images, as named stages`)
        for (const dir of ['root', 'home/node']) mkdirSync(join(fs, dir), { recursive: true })
        giveAway(fs)
        stage = { name: name!, fs, workdir: '/', user: 'root', env: { NODE_VERSION: match[1]! }, volumes: [], nodeBin: imageBin(match[1]!) }
      }
      stages.set(stage.name, stage)
      console.log(`# stage ${stage.name} (${image})`)
      continue
    }
    if (!stage) throw new Error(`${line}: before any FROM`)
    const started = Date.now()
    switch (keyword) {
      case 'WORKDIR': {
        stage.workdir = posix.resolve(stage.workdir, text.trim())
        mkdirSync(onHost(stage, stage.workdir), { recursive: true })
        giveAway(onHost(stage, stage.workdir))
        break
      }
      case 'ENV': {
        for (const property of (instruction as unknown as { getProperties: () => Array<{ getName: () => string, getValue: () => string | null }> }).getProperties()) {
          stage.env[property.getName()] = property.getValue() ?? ''
        }
        break
      }
      case 'USER': stage.user = text.trim(); break
      case 'VOLUME': {
        for (const volume of jsonForm(text) ?? words(instruction)) {
          stage.volumes.push(volume)
          mkdirSync(onHost(stage, volume), { recursive: true })
        }
        break
      }
      case 'EXPOSE': case 'LABEL': case 'STOPSIGNAL': case 'ARG': break
      case 'CMD': stage.cmd = jsonForm(text) ?? ['/bin/sh', '-c', text]; break
      case 'HEALTHCHECK': {
        const command = text.replace(/^(--[\w-]+=\S+\s+)*/, '').trim()
        if (!command.startsWith('CMD')) throw new Error(`${line}: expected HEALTHCHECK [options] CMD …`)
        const rest = command.slice(3)
        stage.healthcheck = jsonForm(rest) ?? ['/bin/sh', '-c', rest.trim()]
        break
      }
      case 'COPY': {
        const flags = Object.fromEntries((instruction as unknown as { getFlags: () => Array<{ getName: () => string, getValue: () => string | null }> }).getFlags().map(f => [f.getName(), f.getValue()]))
        const parts = words(instruction).filter(w => !w.startsWith('--'))
        const destWord = parts.pop()!
        const dest = posix.resolve(stage.workdir, destWord) + (destWord.endsWith('/') ? '/' : '')
        let from = context
        if (flags.from) {
          const source = stages.get(flags.from)
          if (!source) throw new Error(`${line}: no stage ${flags.from}`)
          from = source.fs
        }
        const missing: string[] = []
        copyInto(from, parts.map(p => flags.from ? p.replace(/^\//, '') : p), onHost(stage, dest), s => missing.push(s))
        giveAway(onHost(stage, dest))
        report(missing.length === 0, `COPY ${text.trim()}: every source is in the ${flags.from ? `${flags.from} stage` : 'build context (.dockerignore applied)'}`, missing.join(', '))
        break
      }
      case 'RUN': {
        const command = jsonForm(text) ?? ['/bin/sh', '-c', text]
        const { code, output } = runIn(stageSandbox(stage, NPM_ENV), command)
        report(code === 0, `${stage.name}: RUN ${text.trim().slice(0, 90)} (as an unprivileged user, ${Math.round((Date.now() - started) / 1000)} s)`, output)
        if (code !== 0) throw new Error(`RUN failed in ${stage.name}`)
        break
      }
      default: throw new Error(`${line}: this check does not carry out ${keyword}`)
    }
  }
  return stages
}
