/// <reference lib="dom" />
/**
 * The page: connect with a token, pick an assistant, list and open threads, send a message and
 * stream the answer, dictate with the microphone, attach a file. Everything the gateway says no to
 * ends up in the #error alert, explained.
 */
import { ApiError, createClient, type Client, type ErrorBody, type Message, type Run, type RunStreamEvent, type Thread } from './api.ts'
import { startRecording, type Recording } from './recorder.ts'

const DEFAULT_GATEWAY = 'http://127.0.0.1:3000' // npm run demo

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const ui = {
  origin: $('origin'),
  connect: $<HTMLFormElement>('connect'),
  gateway: $<HTMLInputElement>('gateway'),
  token: $<HTMLInputElement>('token'),
  error: $('error'),
  workspace: $('workspace'),
  assistant: $<HTMLSelectElement>('assistant'),
  newThread: $<HTMLFormElement>('new-thread'),
  threadTitle: $<HTMLInputElement>('thread-title'),
  threads: $<HTMLUListElement>('threads'),
  threadHeading: $('thread-heading'),
  messages: $<HTMLOListElement>('messages'),
  status: $('status'),
  composer: $<HTMLFormElement>('composer'),
  message: $<HTMLTextAreaElement>('message'),
  attachments: $<HTMLUListElement>('attachments'),
  voice: $<HTMLButtonElement>('voice'),
  file: $<HTMLInputElement>('file'),
  send: $<HTMLButtonElement>('send')
}

let client: Client | null = null
let threadId: string | null = null
let recording: Recording | null = null
let attached: Array<{ id: string, filename: string }> = []
/** Names of files uploaded in this tab: messages only carry file ids. */
const filenames = new Map<string, string>()

// ---- errors -------------------------------------------------------------------------------------

function inTime (seconds: number | null): string {
  if (seconds === null) return 'a little while'
  const at = new Date(Date.now() + seconds * 1000).toLocaleTimeString()
  if (seconds < 120) return `${seconds} s (at ${at})`
  const minutes = Math.ceil(seconds / 60)
  return minutes < 120 ? `${minutes} min (at ${at})` : `${Math.floor(minutes / 60)} h ${minutes % 60} min (at ${at})`
}

function explain (err: unknown): string {
  if (!(err instanceof ApiError)) return `Something went wrong: ${err instanceof Error ? err.message : String(err)}`
  const ref = err.requestId ? ` (request ${err.requestId})` : ''
  if (err.status === 0) {
    return `Network error: ${err.message}. Is it running, is its URL right and its certificate trusted, ` +
      `and does its CORS_ORIGINS allow this page's origin (${location.origin})? The browser console has the details.`
  }
  if (err.status === 401) return `The gateway refused the token: ${err.message}. Paste a fresh token and connect again.`
  switch (err.code) {
    case 'RATE_LIMITED': return `Too many requests. Try again in ${inTime(err.retryAfterSeconds)}.`
    case 'BUDGET_EXCEEDED': return `Budget used up: ${err.message}. Try again in ${inTime(err.retryAfterSeconds)}.`
    case 'TOO_MANY_ACTIVE_RUNS': return 'You already have the maximum number of answers in progress. Wait for one to finish.'
    case 'THREAD_BUSY': return 'This thread is still writing an answer. Wait until it is complete, then send again.'
    case 'UPSTREAM_UNAVAILABLE':
    case 'SERVICE_UNAVAILABLE': return `The service is busy. Try again in ${inTime(err.retryAfterSeconds)}${ref}.`
  }
  return `${err.message} (${err.code}, HTTP ${err.status})${ref}`
}

function showError (err: unknown): void {
  ui.error.textContent = explain(err)
  ui.error.hidden = false
}
function clearError (): void {
  ui.error.hidden = true
  ui.error.textContent = ''
}
/** Runs an action from a click or submit; its failure becomes the alert. */
function act (action: () => Promise<void>): void {
  clearError()
  action().catch(showError)
}

// ---- threads and messages -----------------------------------------------------------------------

function threadLabel (thread: Thread): string {
  return thread.title ?? `Untitled · ${new Date(thread.created_at * 1000).toLocaleString()}`
}

function renderThreads (threads: Thread[]): void {
  ui.threads.replaceChildren(...threads.map(thread => {
    const button = document.createElement('button')
    button.type = 'button'
    button.textContent = threadLabel(thread)
    button.dataset.threadId = thread.id
    if (thread.id === threadId) button.setAttribute('aria-current', 'true')
    button.addEventListener('click', () => act(() => openThread(thread)))
    const item = document.createElement('li')
    item.append(button)
    return item
  }))
}

function messageItem (role: string, text: string, fileIds: string[] = []): { item: HTMLLIElement, body: HTMLDivElement } {
  const item = document.createElement('li')
  item.className = `message ${role}`
  const who = document.createElement('strong')
  who.textContent = role === 'user' ? 'You' : 'Assistant'
  const body = document.createElement('div')
  body.className = 'body'
  body.textContent = text
  item.append(who, body)
  for (const fileId of fileIds) {
    const file = document.createElement('span')
    file.className = 'file'
    file.textContent = `Attachment: ${filenames.get(fileId) ?? fileId}`
    item.append(file)
    if (!filenames.has(fileId)) {
      // Messages carry only file ids: look the name up (a deleted file keeps showing its id).
      client?.getFile(fileId).then(found => {
        filenames.set(fileId, found.filename)
        file.textContent = `Attachment: ${found.filename}`
      }, () => {})
    }
  }
  ui.messages.append(item)
  item.scrollIntoView({ block: 'end' })
  return { item, body }
}

const textOf = (message: Pick<Message, 'content'>) => message.content.map(part => part.text.value).join('')

function renderMessage (message: Message): void {
  messageItem(message.role, textOf(message), message.attachments.map(a => a.file_id))
}

async function loadThreads (): Promise<Thread[]> {
  const threads = (await client!.listThreads()).data
  renderThreads(threads)
  return threads
}

async function openThread (thread: Thread): Promise<void> {
  threadId = thread.id
  ui.threadHeading.textContent = threadLabel(thread)
  ui.composer.hidden = false
  ui.status.textContent = ''
  for (const button of ui.threads.querySelectorAll('button')) {
    if (button.dataset.threadId === thread.id) button.setAttribute('aria-current', 'true')
    else button.removeAttribute('aria-current')
  }
  remember('thread', thread.id)
  ui.messages.replaceChildren()
  await showMessages(thread.id)
  ui.message.focus()
}

async function showMessages (thread: string): Promise<void> {
  const messages = await client!.listMessages(thread)
  if (threadId !== thread) return // another thread was opened meanwhile
  ui.messages.replaceChildren()
  for (const message of messages) renderMessage(message)
}

// ---- one chat turn: message, then a streamed run ------------------------------------------------

async function sendMessage (): Promise<void> {
  const text = ui.message.value.trim()
  if (!client || !threadId || !text) return
  const thread = threadId
  ui.send.disabled = true
  try {
    const message = await client.createMessage(thread, text, attached.map(file => file.id))
    renderMessage(message)
    ui.message.value = ''
    attached = []
    renderAttachments()
    await streamAnswer(thread)
  } finally {
    ui.send.disabled = false
  }
}

interface Turn {
  runId: string | null
  /** A terminal event arrived (completed, incomplete, cancelled, failed or error). */
  ended: boolean
  /** One element per assistant message of the run. */
  answers: Map<string, HTMLElement>
}

async function streamAnswer (thread: string): Promise<void> {
  const turn: Turn = { runId: null, ended: false, answers: new Map() }
  ui.status.textContent = 'The assistant is answering…'
  try {
    for await (const event of client!.streamRun(thread, ui.assistant.value)) {
      if (event.event === 'thread.run.created') turn.runId = (event.data as Run).id
      if (threadId === thread) show(turn, event) // the user may have moved on; the answer still lands in its thread
    }
  } catch (err) {
    if (!turn.runId) throw err // the run never started; otherwise the stream broke off, see below
  }
  for (const body of turn.answers.values()) body.setAttribute('aria-busy', 'false')
  if (!turn.ended && turn.runId && threadId === thread) {
    // The connection dropped (network, proxy) but the run goes on in the gateway: wait for it, then reload.
    ui.status.textContent = 'The connection dropped; waiting for the answer…'
    await client!.waitForRun(thread, turn.runId)
    await showMessages(thread)
    ui.status.textContent = 'Answer complete.'
  }
}

function answerFor (turn: Turn, messageId: string): HTMLElement {
  let body = turn.answers.get(messageId)
  if (!body) {
    body = messageItem('assistant', '').body
    // A live region, held back by aria-busy until the answer is whole, so screen readers read it once.
    body.setAttribute('aria-live', 'polite')
    body.setAttribute('aria-busy', 'true')
    turn.answers.set(messageId, body)
  }
  return body
}

/** Shows one event of the run's stream (the contract's event names). */
function show (turn: Turn, { event, data }: RunStreamEvent): void {
  switch (event) {
    case 'thread.message.created':
      answerFor(turn, (data as Message).id)
      break
    case 'thread.message.delta': {
      const delta = data as { id: string, delta: { content: Array<{ text: { value: string } }> } }
      // Follow the growing answer unless the reader has scrolled up.
      const list = ui.messages
      const following = list.scrollHeight - list.scrollTop - list.clientHeight < 40
      answerFor(turn, delta.id).append(...delta.delta.content.map(part => part.text.value))
      if (following) list.scrollTop = list.scrollHeight
      break
    }
    case 'thread.message.completed': {
      const body = answerFor(turn, (data as Message).id)
      body.textContent = textOf(data as Message)
      body.setAttribute('aria-busy', 'false')
      break
    }
    case 'thread.run.completed':
      turn.ended = true
      ui.status.textContent = 'Answer complete.'
      break
    case 'thread.run.incomplete':
      turn.ended = true
      ui.status.textContent = `The answer was cut short (${(data as Run).incomplete_details?.reason ?? 'incomplete'}).`
      break
    case 'thread.run.cancelled':
      turn.ended = true
      ui.status.textContent = 'The run was cancelled.'
      break
    case 'thread.run.failed': {
      turn.ended = true
      const run = data as Run
      ui.status.textContent = ''
      showError(new ApiError(502, run.last_error?.code ?? 'RUN_FAILED', `The run failed: ${run.last_error?.message ?? 'no details'}`))
      break
    }
    case 'error': {
      turn.ended = true
      const body = data as ErrorBody
      ui.status.textContent = ''
      showError(new ApiError(body.statusCode, body.code, body.message, body.requestId ?? null))
      break
    }
  }
}

// ---- voice and files ----------------------------------------------------------------------------

async function toggleRecording (): Promise<void> {
  if (!recording) {
    recording = await startRecording()
    // The label says what a press does next (no aria-pressed: a toggle button's label must not change).
    ui.voice.textContent = 'Stop recording'
    ui.voice.classList.add('recording')
    const started = Date.now()
    const tick = () => { ui.status.textContent = `Recording… ${Math.floor((Date.now() - started) / 1000)} s` }
    tick()
    const timer = setInterval(() => { if (recording) tick(); else clearInterval(timer) }, 500)
    return
  }
  const current = recording
  recording = null
  ui.voice.textContent = 'Record voice'
  ui.voice.classList.remove('recording')
  ui.voice.disabled = true
  try {
    const { audio, filename } = await current.stop()
    ui.status.textContent = 'Transcribing…'
    const { text } = await client!.transcribe(audio, filename)
    ui.message.value = ui.message.value ? `${ui.message.value} ${text}` : text
    ui.status.textContent = 'Transcript added to the message.'
    ui.message.focus()
  } catch (err) {
    ui.status.textContent = ''
    throw err
  } finally {
    ui.voice.disabled = false
  }
}

function renderAttachments (): void {
  ui.attachments.replaceChildren(...attached.map(file => {
    const remove = document.createElement('button')
    remove.type = 'button'
    remove.textContent = 'Remove'
    remove.setAttribute('aria-label', `Remove ${file.filename}`)
    remove.addEventListener('click', () => {
      attached = attached.filter(a => a !== file)
      renderAttachments()
    })
    const item = document.createElement('li')
    item.append(`Attached: ${file.filename} `, remove)
    return item
  }))
}

async function attachFile (): Promise<void> {
  const file = ui.file.files?.[0]
  ui.file.value = ''
  if (!file) return
  ui.status.textContent = `Uploading ${file.name}…`
  try {
    const uploaded = await client!.uploadFile(file)
    filenames.set(uploaded.id, uploaded.filename)
    attached.push({ id: uploaded.id, filename: uploaded.filename })
    renderAttachments()
    ui.status.textContent = `${uploaded.filename} attached.`
  } catch (err) {
    ui.status.textContent = ''
    throw err
  }
}

// ---- start-up: settings from the URL and this tab --------------------------------------------------

/** Keeps a value in the address bar (?gateway=…&thread=…) so a reload comes back to the same place. */
function remember (key: string, value: string): void {
  const url = new URL(location.href)
  url.searchParams.set(key, value)
  history.replaceState(null, '', url)
}

async function connect (): Promise<void> {
  const gateway = ui.gateway.value.trim()
  const token = ui.token.value.trim()
  // The token lives in sessionStorage: it survives a reload but not the tab, and is never in the URL.
  sessionStorage.setItem('token', token)
  remember('gateway', gateway)
  client = createClient(gateway, token)
  const assistants = (await client.listAssistants()).data
  ui.assistant.replaceChildren(...assistants.map(a => new Option(`${a.name} (${a.id})`, a.id)))
  const preferred = localStorage.getItem('assistant')
  if (preferred && assistants.some(a => a.id === preferred)) ui.assistant.value = preferred
  const threads = await loadThreads()
  ui.workspace.hidden = false
  const wanted = new URL(location.href).searchParams.get('thread')
  const thread = threads.find(th => th.id === wanted)
  if (thread) await openThread(thread)
}

function start (): void {
  ui.origin.textContent = location.origin
  const params = new URLSearchParams(location.search)
  ui.gateway.value = params.get('gateway') ?? DEFAULT_GATEWAY
  // A token handed over as #token=… (never sent to a server) is taken and wiped from the address bar.
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token')
  if (fromHash) {
    sessionStorage.setItem('token', fromHash)
    history.replaceState(null, '', location.pathname + location.search)
  }
  ui.token.value = sessionStorage.getItem('token') ?? ''

  ui.connect.addEventListener('submit', event => { event.preventDefault(); act(connect) })
  ui.assistant.addEventListener('change', () => localStorage.setItem('assistant', ui.assistant.value))
  ui.newThread.addEventListener('submit', event => {
    event.preventDefault()
    act(async () => {
      const thread = await client!.createThread(ui.threadTitle.value.trim() || null)
      ui.threadTitle.value = ''
      await loadThreads()
      await openThread(thread)
    })
  })
  ui.composer.addEventListener('submit', event => { event.preventDefault(); act(sendMessage) })
  ui.message.addEventListener('keydown', event => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) ui.composer.requestSubmit()
  })
  ui.voice.addEventListener('click', () => act(toggleRecording))
  ui.file.addEventListener('change', () => act(attachFile))

  if (ui.gateway.value && ui.token.value) act(connect)
}

start()
