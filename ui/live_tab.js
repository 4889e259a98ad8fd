// The Live tab, run once with its gr.HTML(js_on_load=...), `element` = the tab's root. The browser's microphone
// streams to this server's /v1/realtime?intent=transcription (OpenAI's Realtime transcription protocol,
// docs/realtime.md) as 16-bit PCM at 24 kHz; captions show each turn's words as they come, then its final
// sentences with who is speaking. Stop ends the session (the last turn is committed and waited for), then the
// recording (WAV) and the session's transcript (a result JSON of the same name) go into the page's upload box and
// Transcribe opens them as a normal result: the view, downloads, renaming, remembering a voice.
const RATE = 24000;
const CHUNK = 2400;  // 100 ms per append
const WAIT_FINALS_MS = 60000;  // at Stop, how long to wait for the last turns' final text
const ui = {
  start: element.querySelector('.wx-live-start'),
  stop: element.querySelector('.wx-live-stop'),
  status: element.querySelector('.wx-live-status'),
  captions: element.querySelector('.wx-live-captions'),
  language: element.querySelector('.wx-live-language'),
  key: element.querySelector('.wx-live-key'),
};
let live = null;  // the running session: socket, audio graph, what it heard

function say(text) { ui.status.textContent = text; }

function socketUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const base = location.pathname.replace(/\/[^/]*$/, '');
  return `${scheme}//${location.host}${base}/v1/realtime?intent=transcription`;
}

function row(itemId) {
  let item = ui.captions.querySelector(`[data-item="${itemId}"]`);
  if (!item) {
    item = document.createElement('div');
    item.className = 'wx-live-item wx-live-pending';
    item.dataset.item = itemId;
    item.innerHTML = '<span class="wx-live-draft"></span>';
    ui.captions.append(item);
    item.scrollIntoView({block: 'nearest'});
  }
  return item;
}

function showSegments(itemId) {
  const item = row(itemId);
  const segments = live.segments.filter((s) => s.item_id === itemId);
  if (!segments.length) return;
  item.classList.remove('wx-live-pending');
  item.textContent = '';
  segments.forEach((segment) => {
    const line = document.createElement('p');
    line.className = 'wx-live-line';
    const who = document.createElement('span');
    who.className = 'wx-live-speaker';
    who.textContent = segment.speaker || '?';
    const time = document.createElement('span');
    time.className = 'wx-live-time';
    time.textContent = clock(segment.start);
    line.append(time, ' ', who, ' ', segment.text);
    item.append(line);
  });
}

function clock(seconds) {
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
}

function onEvent(event) {
  switch (event.type) {
    case 'input_audio_buffer.speech_started':
      row(event.item_id);
      break;
    case 'input_audio_buffer.committed':
      live.committed.add(event.item_id);
      if (live.stopping) live.answered = true;  // our closing commit (or the VAD's, just before it)
      break;
    case 'conversation.item.input_audio_transcription.delta':
      row(event.item_id).querySelector('.wx-live-draft')?.append(event.delta);
      break;
    case 'conversation.item.input_audio_transcription.segment':
      live.segments.push(event);
      showSegments(event.item_id);
      break;
    case 'conversation.item.input_audio_transcription.completed':
    case 'conversation.item.input_audio_transcription.failed':
      live.done.add(event.item_id);
      if (event.type.endsWith('.failed')) row(event.item_id).textContent = '(this turn could not be transcribed)';
      else if (!live.segments.some((s) => s.item_id === event.item_id)) row(event.item_id).remove();
      break;
    case 'error':
      if (live.stopping) live.answered = true;  // e.g. nothing left to commit
      if (event.error.code !== 'input_audio_buffer_commit_empty') say(`Server: ${event.error.message}`);
      break;
    default:
  }
}

const WORKLET = `class Tap extends AudioWorkletProcessor {
  process(inputs) { if (inputs[0] && inputs[0][0]) this.port.postMessage(inputs[0][0].slice(0)); return true; }
}
registerProcessor('wx-tap', Tap);`;

async function start() {
  ui.start.disabled = true;
  say('Asking for the microphone…');
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({audio: {channelCount: 1, echoCancellation: true}});
  } catch (error) {
    say(`No microphone: ${error.message}`);
    ui.start.disabled = false;
    return;
  }
  const protocols = ['realtime'];
  if (ui.key && ui.key.value.trim()) protocols.push(`openai-insecure-api-key.${ui.key.value.trim()}`);
  const socket = new WebSocket(socketUrl(), protocols);
  const context = new AudioContext({sampleRate: RATE});
  live = {socket, stream, context, pcm: [], pending: new Int16Array(CHUNK), filled: 0, segments: [],
          committed: new Set(), done: new Set(), answered: false, started: new Date()};
  ui.captions.textContent = '';
  socket.onmessage = (message) => onEvent(JSON.parse(message.data));
  socket.onclose = (closed) => { if (live && !live.stopping) say(`Disconnected (${closed.code}).`); };
  socket.onerror = () => say('The live connection failed (is an API key needed?).');
  await new Promise((resolve) => { socket.onopen = resolve; socket.addEventListener('close', resolve); });
  if (socket.readyState !== WebSocket.OPEN) { cleanUp(); ui.start.disabled = false; return; }
  const language = ui.language.value.trim();
  socket.send(JSON.stringify({type: 'session.update', session: {type: 'transcription', audio: {input: {
    format: {type: 'audio/pcm', rate: RATE}, transcription: language ? {language} : {},
    turn_detection: {type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 500}}}}}));
  const url = URL.createObjectURL(new Blob([WORKLET], {type: 'application/javascript'}));
  await context.audioWorklet.addModule(url);
  const source = context.createMediaStreamSource(stream);
  const tap = new AudioWorkletNode(context, 'wx-tap');
  tap.port.onmessage = (message) => take(message.data);
  source.connect(tap);
  live.source = source;
  ui.stop.disabled = false;
  say('Listening: speak, captions appear as you talk.');
}

function take(samples) {
  if (!live || live.stopping) return;
  for (let i = 0; i < samples.length; i += 1) {
    const value = Math.max(-1, Math.min(1, samples[i]));
    live.pending[live.filled] = value < 0 ? value * 0x8000 : value * 0x7fff;
    live.filled += 1;
    if (live.filled === CHUNK) {
      send(live.pending);
      live.pending = new Int16Array(CHUNK);
      live.filled = 0;
    }
  }
}

function send(chunk) {
  live.pcm.push(chunk);
  if (live.socket.readyState !== WebSocket.OPEN) return;
  let binary = '';
  const bytes = new Uint8Array(chunk.buffer);
  for (let i = 0; i < bytes.length; i += 1) binary += String.fromCharCode(bytes[i]);
  live.socket.send(JSON.stringify({type: 'input_audio_buffer.append', audio: btoa(binary)}));
}

async function stop() {
  if (!live) return;
  ui.stop.disabled = true;
  live.stopping = true;
  say('Finishing the last words…');
  if (live.filled) send(live.pending.slice(0, live.filled));
  cleanUpAudio();
  if (live.socket.readyState === WebSocket.OPEN) {
    live.socket.send(JSON.stringify({type: 'input_audio_buffer.commit'}));  // the turn being spoken, if any
    const deadline = Date.now() + WAIT_FINALS_MS;
    const open = () => [...live.committed].some((id) => !live.done.has(id));
    while (Date.now() < deadline && !(live.answered && !open())) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    live.socket.close();
  }
  const finished = live;
  live = null;
  ui.start.disabled = false;
  if (!finished.pcm.length) { say('Nothing was recorded.'); return; }
  say('Opening the session as a transcript…');
  await openAsResult(finished);
}

function cleanUpAudio() {
  if (live.source) live.source.disconnect();
  live.stream.getTracks().forEach((track) => track.stop());
  live.context.close();
}

function cleanUp() {
  if (!live) return;
  cleanUpAudio();
  live = null;
}

function wav(chunks) {
  const samples = chunks.reduce((total, chunk) => total + chunk.length, 0);
  const view = new DataView(new ArrayBuffer(44 + samples * 2));
  const text = (offset, value) => [...value].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, 'RIFF'); view.setUint32(4, 36 + samples * 2, true); text(8, 'WAVE'); text(12, 'fmt ');
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, RATE, true); view.setUint32(28, RATE * 2, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, 'data'); view.setUint32(40, samples * 2, true);
  let offset = 44;
  chunks.forEach((chunk) => chunk.forEach((value) => { view.setInt16(offset, value, true); offset += 2; }));
  return new Blob([view.buffer], {type: 'audio/wav'});
}

function result(session) {
  const segments = [...session.segments].sort((a, b) => a.start - b.start)
    .map((s) => ({start: s.start, end: s.end, text: s.text, speaker: s.speaker || null}));
  const speakers = [...new Set(segments.map((s) => s.speaker).filter(Boolean))];
  const duration = session.pcm.reduce((total, chunk) => total + chunk.length, 0) / RATE;
  return {segments, language: ui.language.value.trim() || null, speakers,
          diarization: segments.filter((s) => s.speaker).map((s) => ({start: s.start, end: s.end, speaker: s.speaker})),
          duration: Math.round(duration * 1000) / 1000, model: 'live', device: '', compute_type: '', timings: {},
          warnings: ['transcribed live (docs/realtime.md): speakers per sentence, words not timed one by one']};
}

async function openAsResult(session) {
  const stamp = session.started.toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const stem = `live-${stamp}`;
  const files = new DataTransfer();
  files.items.add(new File([wav(session.pcm)], `${stem}.wav`, {type: 'audio/wav'}));
  files.items.add(new File([JSON.stringify(result(session))], `${stem}.json`, {type: 'application/json'}));
  const first = document.querySelector('#wx-source-tabs button[role="tab"]');
  if (first) first.click();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const input = document.querySelector('#wx-upload input[type="file"]');
  if (!input) { say('The upload box is not on the page: download nothing, sorry.'); return; }
  input.files = files.files;
  input.dispatchEvent(new Event('change', {bubbles: true}));
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {  // Gradio uploads the two files, then lists them
    const listed = [...document.querySelectorAll('#wx-upload td.filename')]
      .map((node) => `${node.getAttribute('aria-label')} ${node.textContent}`).join(' ');
    if (listed.includes(`${stem}.json`) && listed.includes(`${stem}.wav`)) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  document.querySelector('#wx-transcribe').click();
  say('Done: the session is open as a transcript.');
}

ui.start.addEventListener('click', start);
ui.stop.addEventListener('click', stop);
