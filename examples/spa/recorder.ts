/// <reference lib="dom" />
/**
 * Voice input: records the microphone with MediaRecorder until stop(). Browsers need a secure context
 * (https, or http on localhost / 127.0.0.1) and the user's permission.
 */

export interface Recording {
  /** Stops recording and releases the microphone. */
  stop: () => Promise<{ audio: Blob, filename: string }>
}

// The gateway checks the bytes, not the declared type, and accepts webm, ogg and mp4 among others.
const FORMATS = [
  { mimeType: 'audio/webm;codecs=opus', extension: 'webm' },
  { mimeType: 'audio/webm', extension: 'webm' },
  { mimeType: 'audio/ogg;codecs=opus', extension: 'ogg' },
  { mimeType: 'audio/mp4', extension: 'm4a' }
]

export async function startRecording (): Promise<Recording> {
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('voice input needs a secure page (https, or http on localhost)')
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true }).catch((err: DOMException) => {
    throw new Error(err.name === 'NotAllowedError' ? 'the microphone was not allowed' : `no microphone (${err.message})`)
  })
  const format = FORMATS.find(f => MediaRecorder.isTypeSupported(f.mimeType))
  const recorder = new MediaRecorder(stream, format ? { mimeType: format.mimeType } : {})
  const chunks: Blob[] = []
  recorder.addEventListener('dataavailable', event => { if (event.data.size > 0) chunks.push(event.data) })
  recorder.start()
  return {
    stop: () => new Promise((resolve, reject) => {
      recorder.addEventListener('stop', () => {
        for (const track of stream.getTracks()) track.stop()
        resolve({ audio: new Blob(chunks, { type: recorder.mimeType }), filename: `voice.${format?.extension ?? 'webm'}` })
      }, { once: true })
      recorder.addEventListener('error', () => reject(new Error('Recording failed')), { once: true })
      recorder.stop()
    })
  }
}
