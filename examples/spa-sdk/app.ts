/// <reference lib="dom" />
/**
 * The reference SPA's chat, written as SPAs of the Assistants era were: with the official `openai` SDK
 * (4.x) in the browser. Only two lines know about the gateway, both in createClient() and marked
 * GATEWAY; every other SDK call is what such an SPA already made against api.openai.com.
 */
import OpenAI from 'openai'

type Message = OpenAI.Beta.Threads.Message
type Run = OpenAI.Beta.Threads.Run
type ToolCall = OpenAI.Beta.Threads.Runs.RequiredActionFunctionToolCall
type RunStream = ReturnType<OpenAI['beta']['threads']['runs']['stream']>

const DEFAULT_GATEWAY = 'http://127.0.0.1:3000' // npm run demo

function createClient (gateway: string, token: string): OpenAI {
  return new OpenAI({
    baseURL: `${gateway.replace(/\/+$/, '')}/api/openai`, // GATEWAY: was the SDK's default, https://api.openai.com/v1
    apiKey: token, // GATEWAY: the signed-in user's token (a JWT) instead of the OpenAI key
    dangerouslyAllowBrowser: true // as before: the SPA always called from the browser, now with the user's own token
  })
}

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
  voice: $<HTMLButtonElement>('voice'),
  file: $<HTMLInputElement>('file'),
  delete: $<HTMLButtonElement>('delete'),
  send: $<HTMLButtonElement>('send')
}

let openai: OpenAI | null = null
let threadId: string | null = null
let recorder: MediaRecorder | null = null
let chunks: Blob[] = []

// ---- errors: the SDK's error classes ------------------------------------------------------------

function explain (err: unknown): string {
  if (err instanceof OpenAI.APIConnectionError) {
    return `Could not reach the gateway at ${ui.gateway.value} (${err.message}) Is it running, is its URL right and its ` +
      `certificate trusted, and does its CORS_ORIGINS allow this page's origin (${location.origin})? The browser console has the details.`
  }
  if (err instanceof OpenAI.AuthenticationError) return `The gateway refused the token: ${err.message}. Paste a fresh token and connect again.`
  if (err instanceof OpenAI.APIError) return `${err.message} (${err.code ?? 'no code'})${err.request_id ? ` (request ${err.request_id})` : ''}`
  return `Something went wrong: ${err instanceof Error ? err.message : String(err)}`
}

function showError (err: unknown): void {
  ui.error.textContent = explain(err)
  ui.error.hidden = false
}
/** Runs an action from a click or submit; its failure becomes the alert. */
function act (action: () => Promise<void>): void {
  ui.error.hidden = true
  action().catch(showError)
}

// ---- threads: the Assistants API cannot list them, so the SPA keeps their ids ----------------------

interface KnownThread { id: string, title: string }
const knownThreads = (): KnownThread[] => JSON.parse(localStorage.getItem('threads') ?? '[]')
const saveThreads = (threads: KnownThread[]) => localStorage.setItem('threads', JSON.stringify(threads))

function renderThreads (): void {
  ui.threads.replaceChildren(...knownThreads().map(thread => {
    const button = document.createElement('button')
    button.type = 'button'
    button.textContent = thread.title
    if (thread.id === threadId) button.setAttribute('aria-current', 'true')
    button.addEventListener('click', () => act(() => openThread(thread.id)))
    const item = document.createElement('li')
    item.append(button)
    return item
  }))
}

async function createThread (): Promise<void> {
  const title = ui.threadTitle.value.trim()
  const thread = await openai!.beta.threads.create(title ? { metadata: { title } } : {})
  ui.threadTitle.value = ''
  saveThreads([{ id: thread.id, title: title || `Untitled · ${new Date(thread.created_at * 1000).toLocaleString()}` }, ...knownThreads()])
  await openThread(thread.id)
}

async function openThread (id: string): Promise<void> {
  try {
    await openai!.beta.threads.retrieve(id)
  } catch (err) {
    if (err instanceof OpenAI.NotFoundError) forgetThread(id) // deleted elsewhere
    throw err
  }
  threadId = id
  ui.threadHeading.textContent = knownThreads().find(thread => thread.id === id)?.title ?? id
  ui.composer.hidden = false
  ui.status.textContent = ''
  renderThreads()
  await showMessages(id)
  ui.message.focus()
}

function forgetThread (id: string): void {
  saveThreads(knownThreads().filter(thread => thread.id !== id))
  if (threadId === id) {
    threadId = null
    ui.threadHeading.textContent = 'Pick or create a thread'
    ui.messages.replaceChildren()
    ui.composer.hidden = true
  }
  renderThreads()
}

async function deleteThread (): Promise<void> {
  if (!threadId) return
  await openai!.beta.threads.del(threadId)
  forgetThread(threadId)
  ui.status.textContent = 'Thread deleted.'
}

// ---- messages: history and one streamed turn ------------------------------------------------------

const textOf = (message: Message) => message.content.map(part => part.type === 'text' ? part.text.value : '').join('')

function messageItem (role: 'user' | 'assistant' | 'tool', text: string): HTMLDivElement {
  const item = document.createElement('li')
  item.className = `message ${role}`
  const who = document.createElement('strong')
  who.textContent = role === 'user' ? 'You' : role === 'assistant' ? 'Assistant' : 'This browser'
  const body = document.createElement('div')
  body.className = 'body'
  body.textContent = text
  item.append(who, body)
  ui.messages.append(item)
  item.scrollIntoView({ block: 'end' })
  return body
}

async function showMessages (thread: string): Promise<void> {
  const messages: Message[] = []
  // The SDK follows the pages (after=…) by itself.
  for await (const message of openai!.beta.threads.messages.list(thread, { order: 'asc', limit: 100 })) messages.push(message)
  if (threadId !== thread) return // another thread was opened meanwhile
  ui.messages.replaceChildren()
  for (const message of messages) messageItem(message.role, textOf(message))
}

async function sendMessage (): Promise<void> {
  const text = ui.message.value.trim()
  if (!openai || !threadId || !text) return
  const thread = threadId
  ui.send.disabled = true
  try {
    const message = await openai.beta.threads.messages.create(thread, { role: 'user', content: text })
    messageItem('user', textOf(message))
    ui.message.value = ''
    ui.status.textContent = 'The assistant is answering…'
    const run = await streamAnswer(thread)
    if (run.status === 'failed') throw new Error(`The run failed: ${run.last_error?.message ?? 'no details'}`)
    ui.status.textContent = run.status === 'completed' ? 'Answer complete.' : `The answer ended ${run.status}.`
  } catch (err) {
    ui.status.textContent = ''
    throw err
  } finally {
    ui.send.disabled = false
  }
}

/**
 * Streams a run with the SDK's AssistantStream. When the run stops for this page's client tools
 * (requires_action), runs them and streams the rest with submitToolOutputsStream, until the run ends.
 */
async function streamAnswer (thread: string): Promise<Run> {
  let stream = openai!.beta.threads.runs.stream(thread, { assistant_id: ui.assistant.value })
  for (;;) {
    const run = await follow(thread, stream)
    if (run.status !== 'requires_action' || !run.required_action) return run
    const outputs = run.required_action.submit_tool_outputs.tool_calls.map(call => runClientTool(thread, call))
    ui.status.textContent = 'The assistant is answering…'
    stream = openai!.beta.threads.runs.submitToolOutputsStream(thread, run.id, { tool_outputs: outputs })
  }
}

/** One stream of the run: a bubble per message, its text growing with each delta; the run as the stream left it. */
async function follow (thread: string, stream: RunStream): Promise<Run> {
  let body: HTMLElement | null = null
  stream
    .on('toolCallCreated', call => {
      if (call.type === 'function' && threadId === thread) ui.status.textContent = `The assistant asked this page for ${call.function.name}…`
    })
    .on('messageCreated', () => {
      if (threadId !== thread) return // the user moved on; the answer still lands in its thread
      body = messageItem('assistant', '')
      body.setAttribute('aria-busy', 'true')
    })
    .on('textDelta', delta => { body?.append(delta.value ?? '') })
    .on('messageDone', message => {
      body?.replaceChildren(textOf(message))
      body?.setAttribute('aria-busy', 'false')
    })
  try {
    return await stream.finalRun()
  } catch (err) {
    // The connection broke, but a run does not depend on it: wait for its end, then reload the thread.
    const run = stream.currentRun()
    if (!run || (err instanceof OpenAI.APIError && !(err instanceof OpenAI.APIConnectionError))) throw err
    ui.status.textContent = 'The connection dropped; waiting for the answer…'
    const ended = await openai!.beta.threads.runs.poll(thread, run.id)
    if (threadId === thread && ended.status !== 'requires_action') await showMessages(thread)
    return ended
  }
}

// ---- client tools: functions of the assistant's profile that this page runs (Assistants function tools) ----

const CLIENT_TOOLS: Record<string, (args: Record<string, unknown>) => unknown> = {
  /** The bundled curator's tool: the learner's time zone, and the page of this SPA they are on. */
  get_learner_context: () => ({
    time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    page: location.pathname + location.search
  })
}

/** Runs one call and shows what it sends. A tool the page does not have answers with an error: an unanswered call would hold the run until it expires. */
function runClientTool (thread: string, call: ToolCall): { tool_call_id: string, output: string } {
  const { name } = call.function
  let output: string
  try {
    const tool = Object.hasOwn(CLIENT_TOOLS, name) ? CLIENT_TOOLS[name] : undefined
    if (!tool) throw new Error(`this page has no tool named ${name}`)
    output = JSON.stringify(tool(call.function.arguments ? JSON.parse(call.function.arguments) : {}) ?? null)
    if (threadId === thread) messageItem('tool', `Ran ${name} for the assistant and sent: ${output}`)
  } catch (err) {
    output = JSON.stringify({ error: err instanceof Error ? err.message : String(err) })
    if (threadId === thread) messageItem('tool', `Could not run ${name} for the assistant and told it so: ${output}`)
  }
  return { tool_call_id: call.id, output }
}

// ---- voice and audio files → transcript in the message box ----------------------------------------

async function transcribe (file: File): Promise<void> {
  ui.status.textContent = 'Transcribing…'
  try {
    const { text } = await openai!.audio.transcriptions.create({ file, model: 'whisper-1' })
    ui.message.value = ui.message.value ? `${ui.message.value} ${text}` : text
    ui.status.textContent = 'Transcript added to the message.'
    ui.message.focus()
  } catch (err) {
    ui.status.textContent = ''
    throw err
  }
}

async function toggleRecording (): Promise<void> {
  if (!recorder) {
    const microphone = await navigator.mediaDevices.getUserMedia({ audio: true })
    recorder = new MediaRecorder(microphone)
    chunks = []
    recorder.addEventListener('dataavailable', event => chunks.push(event.data))
    recorder.start()
    ui.voice.textContent = 'Stop recording'
    const started = Date.now()
    const tick = () => { if (recorder) ui.status.textContent = `Recording… ${Math.floor((Date.now() - started) / 1000)} s` }
    tick()
    const timer = setInterval(() => { if (recorder) tick(); else clearInterval(timer) }, 500)
    return
  }
  const stopped = recorder
  recorder = null
  ui.voice.textContent = 'Record voice'
  await new Promise(resolve => {
    stopped.addEventListener('stop', resolve, { once: true })
    stopped.stop()
  })
  for (const track of stopped.stream.getTracks()) track.stop()
  const type = stopped.mimeType
  await transcribe(new File(chunks, `voice.${type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm'}`, { type }))
}

// ---- start-up ------------------------------------------------------------------------------------

async function connect (): Promise<void> {
  sessionStorage.setItem('token', ui.token.value.trim())
  openai = createClient(ui.gateway.value.trim(), ui.token.value.trim())
  const assistants = []
  for await (const assistant of openai.beta.assistants.list()) assistants.push(assistant)
  ui.assistant.replaceChildren(...assistants.map(a => new Option(`${a.name} (${a.id})`, a.id)))
  ui.workspace.hidden = false
  renderThreads()
}

function start (): void {
  ui.origin.textContent = location.origin
  ui.gateway.value = new URLSearchParams(location.search).get('gateway') ?? DEFAULT_GATEWAY
  // A token handed over as #token=… (never sent to a server) is kept for this tab and wiped from the address bar.
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token')
  if (fromHash) {
    sessionStorage.setItem('token', fromHash)
    history.replaceState(null, '', location.pathname + location.search)
  }
  ui.token.value = sessionStorage.getItem('token') ?? ''

  ui.connect.addEventListener('submit', event => { event.preventDefault(); act(connect) })
  ui.newThread.addEventListener('submit', event => { event.preventDefault(); act(createThread) })
  ui.composer.addEventListener('submit', event => { event.preventDefault(); act(sendMessage) })
  ui.voice.addEventListener('click', () => act(toggleRecording))
  ui.file.addEventListener('change', () => {
    const file = ui.file.files?.[0]
    ui.file.value = ''
    if (file) act(() => transcribe(file))
  })
  ui.delete.addEventListener('click', () => act(deleteThread))

  if (ui.gateway.value && ui.token.value) act(connect)
}

start()
