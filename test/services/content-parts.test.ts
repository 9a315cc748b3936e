import t from 'tap'
import { unsupportedContentPart } from '../../services/content-parts.ts'

const text = { type: 'text', text: 'Look' }
const image = { type: 'image_file', image_file: { file_id: 'file-abc' } }
const url = { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }

t.test('names the first part of a type the gateway does not take, where it was sent', async t => {
  const refused = unsupportedContentPart({ content: [text, image, url] }, ['content'])
  t.match(refused, { statusCode: 400, code: 'VALIDATION_FAILED', param: 'content.2.type' })
  t.match(refused?.message, /^image_url is not supported: the gateway does not fetch images from URLs; upload the image/)
  t.match(unsupportedContentPart({ messages: [{ content: 'Hi' }, { content: [text, { type: 'input_audio' }] }] }, ['messages']),
    { param: 'messages.1.content.1.type', message: /^input_audio is not supported: a message's content parts are text, and image_file/ })
  t.match(unsupportedContentPart({ thread: { messages: [{ content: [url] }] } }, ['thread.messages']), { param: 'thread.messages.0.content.0.type' })
  t.match(unsupportedContentPart({ additional_messages: [{ content: [url] }] }, ['additional_messages']), { param: 'additional_messages.0.content.0.type' })
})

t.test('leaves everything else to the schema', async t => {
  t.equal(unsupportedContentPart({ content: 'Hi' }, ['content']), null, 'text')
  t.equal(unsupportedContentPart({ content: [text, image] }, ['content']), null, 'supported parts')
  t.equal(unsupportedContentPart({ content: [{ type: 'text' }, { text: 'no type' }, null, 'a string', [url]] }, ['content']), null, 'malformed parts')
  t.equal(unsupportedContentPart({ content: [{ type: 3 }] }, ['content']), null, 'a type that is not a string')
  t.equal(unsupportedContentPart({ content: [{ type: 'x'.repeat(65) }, { type: 'Image URL' }] }, ['content']), null, 'a type not worth echoing')
  t.equal(unsupportedContentPart({ content: [url] }, ['messages']), null, 'only where the route carries messages')
  t.equal(unsupportedContentPart({ messages: { content: [url] } }, ['messages']), null, 'messages that are not a list')
  t.equal(unsupportedContentPart(undefined, ['content', 'thread.messages']), null, 'no body')
  t.equal(unsupportedContentPart({ thread: null }, ['thread.messages']), null, 'a null thread')
})
