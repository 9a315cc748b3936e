/// <reference lib="dom" />
/**
 * The page: connect with a token, list, open, rename and delete threads (each remembers its assistant),
 * send a message and stream the answer, run the assistant's client tools in the browser, dictate with the
 * microphone, attach a file, and show what is left of today's budget. Everything the gateway says no to
 * ends up in the #error alert, explained.
 */
import {
  ApiError, createClient, type Assistant, type Client, type ErrorBody, type Message, type NewMessage, type Run,
  type RunStreamEvent, type Thread, type ToolOutput, type Usage
} from './api.ts'
import { startRecording, type Recording } from './recorder.ts'
import { runToolCall, type ToolRun } from './tools.ts'

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
  usage: $('usage'),
  newThread: $<HTMLFormElement>('new-thread'),
  threadTitle: $<HTMLInputElement>('thread-title'),
  threads: $<HTMLUListElement>('threads'),
  threadHeading: $('thread-heading'),
  threadActions: $('thread-actions'),
  renameThread: $<HTMLButtonElement>('rename-thread'),
  deleteThread: $<HTMLButtonElement>('delete-thread'),
  rename: $<HTMLFormElement>('rename'),
  newTitle: $<HTMLInputElement>('new-title'),
  cancelRename: $<HTMLButtonElement>('cancel-rename'),
  messages: $<HTMLOListElement>('messages'),
  status: $('status'),
  composer: $<HTMLFormElement>('composer'),
  message: $<HTMLTextAreaElement>('message'),
  attachments: $<HTMLUListElement>('attachments'),
  voice: $<HTMLButtonElement>('voice'),
  file: $<HTMLInputElement>('file'),
  retry: $<HTMLButtonElement>('retry'),
  send: $<HTMLButtonElement>('send')
}

let client: Client | null = null
let assistants: Assistant[] = []
let threads: Thread[] = []
let threadId: string | null = null
/** A run of this tab is being followed (one at a time: the gateway refuses a second one on a thread anyway). */
let answering = false
let recording: Recording | null = null
let attached: Array<{ id: string, filename: string }> = []
/** Names of files uploaded in this tab: messages only carry file ids. */
const filenames = new Map<string, string>()

// ---- times: the API's are UTC (Unix seconds, or ISO 8601 in a message); the page shows local time only ----

const localDateTime = (date: Date) => date.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })
const ISO_UTC = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z\b/g
/** A gateway message may name a time (a budget's reset) in ISO 8601 UTC: the reader gets their own clock's. */
const withLocalTimes = (text: string) => text.replace(ISO_UTC, iso => localDateTime(new Date(iso)))

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
  const message = withLocalTimes(err.message)
  if (err.status === 0) {
    return `Network error: ${message}. Is it running, is its URL right and its certificate trusted, ` +
      `and does its CORS_ORIGINS allow this page's origin (${location.origin})? The browser console has the details.`
  }
  if (err.status === 401) return `The gateway refused the token: ${message}. Paste a fresh token and connect again.`
  switch (err.code) {
    case 'RATE_LIMITED': return `Too many requests. Try again in ${inTime(err.retryAfterSeconds)}.`
    case 'BUDGET_EXCEEDED': return `Budget used up: ${message}. Try again in ${inTime(err.retryAfterSeconds)}.`
    case 'TOO_MANY_ACTIVE_RUNS': return 'You already have the maximum number of answers in progress. Wait for one to finish.'
    case 'THREAD_BUSY': return 'This thread is still writing an answer. Wait until it is complete, then send again.'
    case 'QUOTA_EXCEEDED': return `${message}.`
    case 'USER_SUSPENDED': return 'Your account is suspended. Please contact the platform\'s support.'
    case 'UPSTREAM_UNAVAILABLE':
    case 'SERVICE_UNAVAILABLE': return `The service is busy. Try again in ${inTime(err.retryAfterSeconds)}${ref}.`
  }
  return `${message} (${err.code}, HTTP ${err.status})${ref}`
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

/** The status line speaks of the open thread only. */
function setStatus (thread: string | null, text: string): void {
  if (thread === threadId) ui.status.textContent = text
}

// ---- usage: what is left of today's budget ------------------------------------------------------

function describeUsage (usage: Usage): string {
  const n = (value: number) => Math.floor(value).toLocaleString()
  const { limits, remaining } = usage
  const parts = [limits.tokens === null
    ? `${n(usage.tokens.total)} tokens used today (no daily limit)`
    : `${n(remaining.tokens ?? 0)} of ${n(limits.tokens)} tokens left today`]
  if (limits.audio_seconds !== null) parts.push(`${n(remaining.audio_seconds ?? 0)} of ${n(limits.audio_seconds)} s of audio left`)
  if (limits.tokens !== null || limits.audio_seconds !== null) parts.push(`resets ${localDateTime(new Date(usage.resets_at * 1000))}`)
  return parts.join(' · ')
}

/** Reads GET /usage after anything that spends. Its own failure (a rate limit, say) is not the user's error. */
async function refreshUsage (): Promise<void> {
  try {
    ui.usage.textContent = describeUsage(await client!.getUsage())
  } catch {
    // The last figure stays; the alert is for what the user asked for.
  }
}

// ---- threads: each remembers its assistant in its metadata ----------------------------------------

const currentThread = () => threads.find(thread => thread.id === threadId) ?? null
const assistantName = (id: string | undefined) => assistants.find(a => a.id === id)?.name ?? id

function threadLabel (thread: Thread): string {
  return thread.title ?? `Untitled · ${localDateTime(new Date(thread.created_at * 1000))}`
}

function renderThreads (): void {
  ui.threads.replaceChildren(...threads.map(thread => {
    const button = document.createElement('button')
    button.type = 'button'
    button.textContent = threadLabel(thread)
    button.dataset.threadId = thread.id
    if (thread.id === threadId) button.setAttribute('aria-current', 'true')
    button.addEventListener('click', () => act(() => openThread(thread)))
    const item = document.createElement('li')
    item.append(button)
    const assistant = assistantName(thread.metadata.assistant_id)
    if (assistant) {
      const label = document.createElement('span')
      label.className = 'with'
      label.textContent = assistant
      item.append(label)
    }
    return item
  }))
}

/** Puts a thread the gateway returned in place of the listed one (or first, when new). */
function keepThread (thread: Thread): void {
  const index = threads.findIndex(listed => listed.id === thread.id)
  if (index === -1) threads.unshift(thread)
  else threads[index] = thread
  renderThreads()
  if (thread.id === threadId) ui.threadHeading.textContent = threadLabel(thread)
}

async function loadThreads (): Promise<void> {
  threads = (await client!.listThreads()).data
  renderThreads()
}

async function createThread (): Promise<void> {
  // The assistant picked goes into the thread's metadata, so any device reopens it with the same one.
  const thread = await client!.createThread(ui.threadTitle.value.trim() || null, { assistant_id: ui.assistant.value })
  ui.threadTitle.value = ''
  keepThread(thread)
  await openThread(thread)
}

async function openThread (thread: Thread): Promise<void> {
  threadId = thread.id
  ui.threadHeading.textContent = threadLabel(thread)
  ui.threadActions.hidden = false
  ui.rename.hidden = true
  ui.composer.hidden = false
  ui.retry.hidden = true
  ui.status.textContent = ''
  for (const button of ui.threads.querySelectorAll('button')) {
    if (button.dataset.threadId === thread.id) button.setAttribute('aria-current', 'true')
    else button.removeAttribute('aria-current')
  }
  remember('thread', thread.id)
  ui.messages.replaceChildren()
  // A thread made elsewhere may not say which assistant it is with: its latest run does.
  const assistant = thread.metadata.assistant_id ?? (await client!.lastRun(thread.id))?.assistant_id
  if (threadId === thread.id && assistant && assistants.some(a => a.id === assistant)) ui.assistant.value = assistant
  await showMessages(thread.id)
  ui.message.focus()
}

/** A thread is with the assistant that last answered in it: a run by another one updates its metadata. */
async function rememberAssistant (id: string, assistantId: string): Promise<void> {
  const thread = threads.find(listed => listed.id === id)
  if (!thread || thread.metadata.assistant_id === assistantId) return
  keepThread(await client!.updateThread(thread.id, { metadata: { ...thread.metadata, assistant_id: assistantId } }))
}

async function renameThread (): Promise<void> {
  const thread = currentThread()
  const title = ui.newTitle.value.trim()
  if (!thread || !title) return
  keepThread(await client!.updateThread(thread.id, { title }))
  ui.rename.hidden = true
  ui.renameThread.focus()
}

async function deleteThread (): Promise<void> {
  const thread = currentThread()
  if (!thread || !confirm(`Delete "${threadLabel(thread)}" and all its messages? This cannot be undone.`)) return
  await client!.deleteThread(thread.id)
  threads = threads.filter(listed => listed.id !== thread.id)
  renderThreads()
  if (threadId === thread.id) closeThread()
  ui.status.textContent = 'Thread deleted.'
}

function closeThread (): void {
  threadId = null
  ui.threadHeading.textContent = 'Pick or create a thread'
  ui.threadActions.hidden = true
  ui.rename.hidden = true
  ui.messages.replaceChildren()
  ui.composer.hidden = true
  const url = new URL(location.href)
  url.searchParams.delete('thread')
  history.replaceState(null, '', url)
}

// ---- messages -----------------------------------------------------------------------------------

function messageItem (role: 'user' | 'assistant' | 'tool', text: string, fileIds: string[] = []): { item: HTMLLIElement, body: HTMLDivElement } {
  const item = document.createElement('li')
  item.className = `message ${role}`
  const who = document.createElement('strong')
  who.textContent = role === 'user' ? 'You' : role === 'assistant' ? 'Assistant' : 'This browser'
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

async function showMessages (thread: string): Promise<void> {
  const messages = await client!.listMessages(thread)
  if (threadId !== thread) return // another thread was opened meanwhile
  ui.messages.replaceChildren()
  for (const message of messages) renderMessage(message)
}

// ---- one chat turn: the question goes with its run; client tools; the streamed answer ---------------

interface Turn {
  thread: string
  runId: string | null
  /** The run as its last event showed it. */
  run: Run | null
  /** One element per assistant message of the run. */
  answers: Map<string, HTMLElement>
  /** An `error` event of the stream. */
  error: ApiError | null
}

async function sendMessage (): Promise<void> {
  const text = ui.message.value.trim()
  if (!client || !threadId || !text || answering) return
  const files = attached
  // Shown at once, posted with the run. A refused run posts nothing: the question goes back into the
  // composer and the thread is as it was, so sending again posts it once.
  const question = messageItem('user', text, files.map(file => file.id)).item
  question.classList.add('pending')
  ui.message.value = ''
  attached = []
  renderAttachments()
  let started = false
  try {
    await answer(threadId, { content: text, ...(files.length > 0 ? { attachments: files.map(file => ({ file_id: file.id })) } : {}) }, () => {
      started = true
      question.classList.remove('pending')
    })
  } catch (err) {
    if (!started) {
      question.remove()
      ui.message.value = ui.message.value ? `${text}\n${ui.message.value}` : text
      attached = [...files, ...attached]
      renderAttachments()
    }
    throw err
  }
}

/**
 * Follows one run from its start to its end: streams it, runs the client tools it asks for and streams
 * the rest, and waits for it when a stream breaks off. `message` goes into the thread with the run.
 * A run that started but gave no answer (failed, expired, cancelled) leaves "Answer the last message",
 * which starts a run again without posting the question again.
 */
async function answer (thread: string, message: NewMessage | null, onStarted: () => void = () => {}): Promise<void> {
  const turn: Turn = { thread, runId: null, run: null, answers: new Map(), error: null }
  const assistant = ui.assistant.value
  answering = true
  ui.send.disabled = true
  ui.retry.hidden = true
  setStatus(thread, 'The assistant is answering…')
  try {
    let events = client!.streamRun(thread, assistant, message)
    for (;;) {
      let run = await follow(turn, events, onStarted)
      if (!run) {
        // The connection dropped (network, proxy) but the run goes on in the gateway: wait for it.
        setStatus(thread, 'The connection dropped; waiting for the answer…')
        run = turn.run = await client!.waitForRun(thread, turn.runId!)
        if (run.status !== 'requires_action' && threadId === thread) await showMessages(thread)
      }
      if (run.status !== 'requires_action') return finish(turn, run)
      const outputs = await runClientTools(turn, run)
      setStatus(thread, 'The assistant is answering…')
      events = await submitToolOutputs(turn, run, outputs)
      setStatus(thread, 'The assistant is answering…') // after "sending again"
    }
  } catch (err) {
    setStatus(thread, '')
    // Outputs refused for good: the paused run would hold the thread until it expires. Cancelled, the thread
    // is free and the question can be answered again. Best effort: a cancel may be refused as the outputs were.
    if (turn.run?.status === 'requires_action') turn.run = await client!.cancelRun(thread, turn.run.id).catch(() => turn.run)
    throw err
  } finally {
    answering = false
    ui.send.disabled = false
    for (const body of turn.answers.values()) body.setAttribute('aria-busy', 'false')
    // Refused before it started, a retry leaves the question as unanswered as it was; a new message was not posted.
    const unanswered = turn.runId === null ? message === null : !['completed', 'incomplete'].includes(turn.run?.status ?? '')
    ui.retry.hidden = threadId !== thread || !unanswered
    refreshUsage()
    // Best effort: should it fail, the thread's runs still say which assistant answered.
    if (turn.runId !== null) rememberAssistant(thread, assistant).catch(() => {})
  }
}

/**
 * Reads one stream of the run; the run as its last event left it, or null when the stream broke off first.
 * A refusal (of the run, or of its tool outputs) is thrown.
 */
async function follow (turn: Turn, events: AsyncGenerator<RunStreamEvent>, onStarted: () => void): Promise<Run | null> {
  let ended = false
  try {
    for await (const event of events) {
      if (event.event.startsWith('thread.run.') && !event.event.startsWith('thread.run.step.')) {
        turn.run = event.data as Run
        if (turn.runId === null) {
          turn.runId = turn.run.id
          onStarted()
        }
      }
      if (event.event === 'error') {
        const body = event.data as ErrorBody
        turn.error = new ApiError(body.statusCode, body.code, body.message, body.requestId ?? null)
      }
      if (event.event === 'done') ended = true
      if (threadId === turn.thread) show(turn, event) // the user may have moved on; the answer still lands in its thread
    }
  } catch (err) {
    // Refused (an answer with an error status), or the run never started: an error. Otherwise the stream broke off.
    if (turn.runId === null || (err instanceof ApiError && err.status > 0)) throw err
  }
  if (turn.error) throw turn.error
  return ended && turn.run ? turn.run : null
}

/** Runs the calls the paused run waits for, shows each on the page, and returns their outputs. */
async function runClientTools (turn: Turn, run: Run): Promise<ToolOutput[]> {
  const calls = run.required_action?.submit_tool_outputs.tool_calls ?? []
  setStatus(turn.thread, `Running ${calls.map(call => call.function.name).join(', ')} in this browser for the assistant…`)
  const runs: ToolRun[] = []
  for (const call of calls) runs.push(await runToolCall(call))
  if (threadId === turn.thread) {
    // What the page shares with the assistant is shown to the user, exactly as it is sent.
    for (const done of runs) {
      messageItem('tool', done.ok
        ? `Ran ${done.name} for the assistant and sent: ${done.output}`
        : `Could not run ${done.name} for the assistant and told it so: ${done.output}`).item.classList.toggle('failed', !done.ok)
    }
  }
  return runs.map(({ tool_call_id: id, output }) => ({ tool_call_id: id, output }))
}

/** How long the page waits out a refused submit_tool_outputs, and how often it sends the outputs. */
const SUBMIT_WAIT_MAX_S = 60
const SUBMIT_ATTEMPTS = 4

/**
 * Sends the outputs; resolves with the stream of the rest of the run. A 429 with a Retry-After the page can
 * wait out (at most SUBMIT_WAIT_MAX_S, and before the run expires) is waited out and the same outputs go
 * again, up to SUBMIT_ATTEMPTS sends: the answer is half done and the user did nothing wrong. Any other
 * refusal, or one beyond that, is thrown.
 */
async function submitToolOutputs (turn: Turn, run: Run, outputs: ToolOutput[]): Promise<AsyncGenerator<RunStreamEvent>> {
  const what = outputs.length === 1 ? 'the tool\'s answer' : 'the tools\' answers'
  for (let attempt = 1; ; attempt++) {
    try {
      return await client!.submitToolOutputs(turn.thread, run.id, outputs)
    } catch (err) {
      const wait = err instanceof ApiError && err.status === 429 ? err.retryAfterSeconds : null
      const expired = run.expires_at !== null && Date.now() / 1000 + (wait ?? 0) >= run.expires_at
      if (wait === null || wait > SUBMIT_WAIT_MAX_S || expired || attempt >= SUBMIT_ATTEMPTS) throw err
      const reason = (err as ApiError).code === 'RATE_LIMITED' ? 'Too many requests' : 'The gateway asked to wait'
      for (let left = wait; left > 0; left--) {
        setStatus(turn.thread, `${reason}; sending ${what} again in ${left} s…`)
        await new Promise(resolve => setTimeout(resolve, 1000))
      }
      setStatus(turn.thread, `Sending ${what} again…`)
    }
  }
}

/** The status line for a run's end; a failed run is an error. */
function finish (turn: Turn, run: Run): void {
  switch (run.status) {
    case 'completed': return setStatus(turn.thread, 'Answer complete.')
    case 'incomplete': return setStatus(turn.thread, `The answer was cut short (${run.incomplete_details?.reason ?? 'incomplete'}).`)
    case 'cancelled': return setStatus(turn.thread, 'The run was cancelled.')
    case 'expired': return setStatus(turn.thread, 'The run expired: it waited too long for this page\'s tools.')
  }
  throw new ApiError(502, run.last_error?.code ?? 'RUN_FAILED', `The run ${run.status === 'failed' ? 'failed' : `ended ${run.status}`}: ${run.last_error?.message ?? 'no details'}`)
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
    refreshUsage()
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
  assistants = (await client.listAssistants()).data
  ui.assistant.replaceChildren(...assistants.map(a => new Option(`${a.name} (${a.id})`, a.id)))
  const preferred = localStorage.getItem('assistant')
  if (preferred && assistants.some(a => a.id === preferred)) ui.assistant.value = preferred
  await loadThreads()
  await refreshUsage()
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

  const onSubmit = (form: HTMLFormElement, action: () => Promise<void>) =>
    form.addEventListener('submit', event => { event.preventDefault(); act(action) })
  onSubmit(ui.connect, connect)
  onSubmit(ui.newThread, createThread)
  onSubmit(ui.rename, renameThread)
  onSubmit(ui.composer, sendMessage)
  // The one new threads start with; an open thread takes it when it next runs.
  ui.assistant.addEventListener('change', () => localStorage.setItem('assistant', ui.assistant.value))
  ui.renameThread.addEventListener('click', () => {
    ui.newTitle.value = currentThread()?.title ?? ''
    ui.rename.hidden = false
    ui.newTitle.focus()
  })
  ui.cancelRename.addEventListener('click', () => { ui.rename.hidden = true })
  ui.deleteThread.addEventListener('click', () => act(deleteThread))
  ui.retry.addEventListener('click', () => {
    const thread = threadId
    if (thread && !answering) act(() => answer(thread, null))
  })
  ui.message.addEventListener('keydown', event => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) ui.composer.requestSubmit()
  })
  ui.voice.addEventListener('click', () => act(toggleRecording))
  ui.file.addEventListener('change', () => act(attachFile))

  if (ui.gateway.value && ui.token.value) act(connect)
}

start()
