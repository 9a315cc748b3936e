import { X509Certificate, createPrivateKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'

export interface TlsFiles {
  cert: Buffer
  key: Buffer
}

function read (variable: string, path: string, problems: string[]): Buffer | undefined {
  try {
    return readFileSync(path)
  } catch (err) {
    problems.push(`${variable} ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
    return undefined
  }
}

/**
 * Reads TLS_CERT_FILE and TLS_KEY_FILE and checks them the way the HTTPS server will use them, so that a
 * missing file, a file that is not PEM, an encrypted key (there is no passphrase setting) or a key of
 * another certificate is a line naming the variable instead of a stack from deep inside node:tls.
 * Returns the files, or the problems found (every one of them, not just the first).
 */
export function readTlsFiles (certPath: string, keyPath: string): { files: TlsFiles, problems: [] } | { files: null, problems: string[] } {
  const problems: string[] = []
  const cert = read('TLS_CERT_FILE', certPath, problems)
  const key = read('TLS_KEY_FILE', keyPath, problems)
  if (cert) {
    try {
      new X509Certificate(cert) // eslint-disable-line no-new
    } catch {
      problems.push(`TLS_CERT_FILE ${certPath} is not a PEM certificate`)
    }
  }
  if (key) {
    try {
      createPrivateKey(key)
    } catch {
      problems.push(`TLS_KEY_FILE ${keyPath} is not an unencrypted PEM private key`)
    }
  }
  if (problems.length > 0 || !cert || !key) return { files: null, problems }
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    const mismatch = (err as NodeJS.ErrnoException).code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH'
    problems.push(mismatch
      ? `TLS_KEY_FILE ${keyPath} is not the private key of the certificate in TLS_CERT_FILE ${certPath}`
      : `TLS_CERT_FILE ${certPath} and TLS_KEY_FILE ${keyPath} cannot serve HTTPS (${(err as Error).message})`)
    return { files: null, problems }
  }
  return { files: { cert, key }, problems: [] }
}
