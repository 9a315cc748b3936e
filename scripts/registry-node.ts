/**
 * A given Node.js release, fetched from the npm registry (the same per-platform packages that
 * optionalDependencies bring, so no install script and no download outside npm), for the smoke test on
 * the lowest Node `engines` admits and for the deployment-kit check on the Dockerfile's Node.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..')

export function platformPackage (): string {
  if (process.platform !== 'linux' || !['x64', 'arm64'].includes(process.arch)) {
    throw new Error(`Node.js builds come from the npm registry for linux-x64 and linux-arm64 only, not ${process.platform}-${process.arch}: pass --node <path>`)
  }
  return `node-linux-${process.arch}`
}

/** Path of the `node` binary of that release, cached by npm (~/.npm/_npx) after the first call. */
export function registryNode (version: string): string {
  const bundled = join(ROOT, 'node_modules', platformPackage())
  try {
    if ((JSON.parse(readFileSync(join(bundled, 'package.json'), 'utf8')) as { version: string }).version === version) return join(bundled, 'bin', 'node')
  } catch {}
  return execFileSync('npm', ['exec', '--yes', `--package=${platformPackage()}@${version}`, '--', 'node', '-p', 'process.execPath'], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']
  }).trim()
}

/** Every release of the platform package the registry has (one look-up). */
export function registryNodeVersions (): string[] {
  return JSON.parse(execFileSync('npm', ['view', platformPackage(), 'versions', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })) as string[]
}

const parse = (v: string) => v.replace(/^v/, '').split('.').map(Number) as [number, number, number]
export const compareVersions = (a: string, b: string): number => {
  const [x, y] = [parse(a), parse(b)]
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]
}

/** The floors of an engines range made of `>=x.y.z` / `^x.y.z` alternatives, lowest first. */
export function engineFloors (range: string): string[] {
  return range.split('||').map(part => /(\d+\.\d+\.\d+)/.exec(part)?.[1]).filter((v): v is string => !!v).sort(compareVersions)
}

export function enginesRange (): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node
}
