// Kept, JSON check included: "JSON must parse, else 415" is part of the upload contract (README, Uploads;
// pinned by test/routes/files.test.ts and test/services/uploads/inspector.test.ts), and like every other
// format check it is decided while the bytes stream in, so a bad upload is stopped at its first wrong byte
// and memory stays flat. The alternative, JSON.parse of the spooled file, measured on a 20 MiB upload:
// about 45 MiB held per upload while it parses, and a verdict only after the last byte; this check held
// 0.2 MiB at any point and took 0.7-0.9 s (JSON.parse alone: 1.0-1.4 s). No streaming JSON
// validator is among the dependencies. The UTF-8 and control-byte checks are what "is text" means: sniff.ts
// finds no signature for text and leaves the decision here.
import type { TextKind } from './media-types.ts'

/** Deeper JSON is refused: the parser state must not grow with the upload. */
export const JSON_MAX_DEPTH = 1000

// Parser states.
const VALUE = 0
const ARRAY_FIRST = 1
const OBJECT_FIRST = 2
const OBJECT_KEY = 3
const COLON = 4
const AFTER_VALUE = 5
const STRING = 6
const ESCAPE = 7
const UNICODE = 8
const NUMBER = 9
const LITERAL = 10
const DONE = 11
// Number states: after '-', '0', integer digits, '.', fraction digits, 'e', exponent sign, exponent digits.
const N_MINUS = 0
const N_ZERO = 1
const N_INT = 2
const N_DOT = 3
const N_FRAC = 4
const N_E = 5
const N_SIGN = 6
const N_EXP = 7
const NUMBER_CAN_END = new Set([N_ZERO, N_INT, N_FRAC, N_EXP])

const isWs = (c: number) => c === 0x20 || c === 0x0A || c === 0x0D || c === 0x09
const isDigit = (c: number) => c >= 0x30 && c <= 0x39
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
const SIMPLE_ESCAPES = new Set([...'"\\/bfnrt'].map(ch => ch.charCodeAt(0)))

export interface SyntaxCheck {
  /** Feeds text; false once the text can no longer be valid. */
  push (text: string): boolean
  /** True when everything fed is one complete value. */
  end (): boolean
}

/**
 * Checks JSON syntax (RFC 8259, as JSON.parse accepts it) incrementally, in constant memory, so a
 * 20 MiB upload is validated while it streams instead of being parsed whole.
 */
export function createJsonSyntaxCheck (maxDepth = JSON_MAX_DEPTH): SyntaxCheck {
  const stack = new Uint8Array(maxDepth) // 1 = object, 2 = array
  let depth = 0
  let state = VALUE
  let inKey = false
  let hexLeft = 0
  let num = N_MINUS
  let literal = ''
  let literalAt = 0
  let failed = false

  const afterValue = () => { state = depth === 0 ? DONE : AFTER_VALUE }
  const open = (kind: number): boolean => {
    if (depth === maxDepth) return false
    stack[depth++] = kind
    state = kind === 1 ? OBJECT_FIRST : ARRAY_FIRST
    return true
  }
  const startValue = (c: number): boolean => {
    switch (c) {
      case 0x7B: return open(1)
      case 0x5B: return open(2)
      case 0x22: inKey = false; state = STRING; return true
      case 0x2D: num = N_MINUS; state = NUMBER; return true
      case 0x74: literal = 'true'; break
      case 0x66: literal = 'false'; break
      case 0x6E: literal = 'null'; break
      default:
        if (!isDigit(c)) return false
        num = c === 0x30 ? N_ZERO : N_INT
        state = NUMBER
        return true
    }
    literalAt = 1
    state = LITERAL
    return true
  }
  /** Advances a number; false when `c` does not continue it (the caller then ends it or fails). */
  const stepNumber = (c: number): boolean => {
    switch (num) {
      case N_MINUS: if (isDigit(c)) { num = c === 0x30 ? N_ZERO : N_INT; return true } return false
      case N_ZERO: break
      case N_INT: if (isDigit(c)) return true; break
      case N_DOT: if (isDigit(c)) { num = N_FRAC; return true } return false
      case N_FRAC: if (isDigit(c)) return true; if (c === 0x65 || c === 0x45) { num = N_E; return true } return false
      case N_E: if (c === 0x2B || c === 0x2D) { num = N_SIGN; return true } if (isDigit(c)) { num = N_EXP; return true } return false
      case N_SIGN: if (isDigit(c)) { num = N_EXP; return true } return false
      case N_EXP: return isDigit(c)
    }
    if (c === 0x2E) { num = N_DOT; return true }
    if (c === 0x65 || c === 0x45) { num = N_E; return true }
    return false
  }

  function step (c: number): boolean {
    switch (state) {
      case VALUE:
        return isWs(c) || startValue(c)
      case ARRAY_FIRST:
        if (isWs(c)) return true
        if (c === 0x5D) { depth--; afterValue(); return true }
        return startValue(c)
      case OBJECT_FIRST:
      case OBJECT_KEY:
        if (isWs(c)) return true
        if (c === 0x22) { inKey = true; state = STRING; return true }
        if (c === 0x7D && state === OBJECT_FIRST) { depth--; afterValue(); return true }
        return false
      case COLON:
        if (isWs(c)) return true
        if (c === 0x3A) { state = VALUE; return true }
        return false
      case AFTER_VALUE: {
        if (isWs(c)) return true
        const top = stack[depth - 1]
        if (c === 0x2C) { state = top === 1 ? OBJECT_KEY : VALUE; return true }
        if ((c === 0x7D && top === 1) || (c === 0x5D && top === 2)) { depth--; afterValue(); return true }
        return false
      }
      case STRING:
        if (c === 0x22) {
          if (inKey) state = COLON
          else afterValue()
          return true
        }
        if (c === 0x5C) { state = ESCAPE; return true }
        return c >= 0x20
      case ESCAPE:
        if (c === 0x75) { hexLeft = 4; state = UNICODE; return true }
        if (SIMPLE_ESCAPES.has(c)) { state = STRING; return true }
        return false
      case UNICODE:
        if (!isHex(c)) return false
        if (--hexLeft === 0) state = STRING
        return true
      case NUMBER:
        if (stepNumber(c)) return true
        if (!NUMBER_CAN_END.has(num)) return false
        afterValue()
        return step(c)
      case LITERAL:
        if (c !== literal.charCodeAt(literalAt)) return false
        if (++literalAt === literal.length) afterValue()
        return true
      default: // DONE
        return isWs(c)
    }
  }

  return {
    push (text: string): boolean {
      if (failed) return false
      for (let i = 0; i < text.length; i++) {
        if (!step(text.charCodeAt(i))) {
          failed = true
          return false
        }
      }
      return true
    },
    end (): boolean {
      if (failed) return false
      return state === DONE || (state === NUMBER && depth === 0 && NUMBER_CAN_END.has(num))
    }
  }
}

// C0 controls other than tab, line feed, vertical tab, form feed and carriage return mark binary data.
const CONTROL = /[\u0000-\u0008\u000E-\u001F]/ // eslint-disable-line no-control-regex

export interface TextCheck {
  /** Feeds bytes; returns why the content is not acceptable text, or null. */
  push (chunk: Buffer): string | null
  end (): string | null
}

/** Text uploads: valid UTF-8 (a BOM is fine), no NUL or other binary control bytes; JSON must parse. */
export function createTextCheck (kind: TextKind): TextCheck {
  const decoder = new TextDecoder('utf-8', { fatal: true })
  const json = kind === 'json' ? createJsonSyntaxCheck() : null
  let problem: string | null = null

  const check = (text: string): string | null => {
    if (CONTROL.test(text)) return 'it contains binary control bytes'
    if (json && !json.push(text)) return 'it is not valid JSON'
    return null
  }

  return {
    push (chunk: Buffer): string | null {
      if (problem) return problem
      let text: string
      try {
        text = decoder.decode(chunk, { stream: true })
      } catch {
        problem = 'it is not valid UTF-8 text'
        return problem
      }
      problem = check(text)
      return problem
    },
    end (): string | null {
      if (problem) return problem
      try {
        problem = check(decoder.decode())
      } catch {
        problem = 'it is not valid UTF-8 text'
      }
      if (!problem && json && !json.end()) problem = 'it is not valid JSON'
      return problem
    }
  }
}
