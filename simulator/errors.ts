export interface ErrorBody {
  error: { message: string, type: string, param: string | null, code: string | null }
}

/** An error answered with OpenAI's error envelope. */
export class ApiError extends Error {
  status: number
  type: string
  param: string | null
  code: string | null
  headers: Record<string, string>

  constructor (status: number, message: string, options: { type?: string, param?: string | null, code?: string | null, headers?: Record<string, string> } = {}) {
    super(message)
    this.status = status
    this.type = options.type ?? 'invalid_request_error'
    this.param = options.param ?? null
    this.code = options.code ?? null
    this.headers = options.headers ?? {}
  }

  toBody (): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }
}

export function badRequest (message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError(400, message, { param, code })
}

export function notFound (message: string, param: string | null = null): ApiError {
  return new ApiError(404, message, { param })
}

export function conversationLocked (): ApiError {
  return new ApiError(400, 'Another process is currently operating on this conversation. Please retry in a few seconds.', {
    param: 'conversation',
    code: 'conversation_locked'
  })
}

export function missingParameter (name: string): ApiError {
  return badRequest(`Missing required parameter: '${name}'.`, name, 'missing_required_parameter')
}
