// Airlock console: the one script, loaded from the gateway itself (the CSP allows no other).
// It follows a running execution live over Server-Sent Events (the browser's EventSource,
// which resumes with Last-Event-ID after a dropped connection) and writes what arrives into
// the page. Everything else in the console is plain links and forms, and works without it.
'use strict';

function appendText(id, text) {
  const el = document.getElementById(id);
  if (!el) return;
  el.hidden = false;
  el.textContent += text;
}

function showDisplay(output) {
  const box = document.getElementById('displays');
  if (!box || !output || !output.data) return;
  const png = output.data['image/png'];
  if (typeof png === 'string') {
    const img = document.createElement('img');
    img.src = 'data:image/png;base64,' + png;
    img.alt = 'Figure ' + (box.querySelectorAll('img').length + 1) + ' of this execution';
    box.appendChild(img);
  } else if (typeof output.data['text/plain'] === 'string') {
    const pre = document.createElement('pre');
    pre.textContent = output.data['text/plain'];
    box.appendChild(pre);
  }
}

function setStatus(status) {
  const el = document.getElementById('status');
  if (el) el.textContent = status;
  document.body.dataset.status = status;
}

function follow(el) {
  const source = new EventSource(el.dataset.stream);
  source.addEventListener('status', (e) => setStatus(JSON.parse(e.data).status));
  source.addEventListener('stdout', (e) => appendText('stdout', JSON.parse(e.data).text));
  source.addEventListener('stderr', (e) => appendText('stderr', JSON.parse(e.data).text));
  source.addEventListener('display', (e) => showDisplay(JSON.parse(e.data)));
  source.addEventListener('error', (e) => {
    if (!e.data) return; // a connection error: EventSource reconnects by itself
    const err = JSON.parse(e.data);
    appendText('error', (err.name || 'Error') + ': ' + (err.value || '') + '\n');
  });
  source.addEventListener('result', (e) => {
    const result = JSON.parse(e.data);
    setStatus(result.status);
    source.close();
    // What was not streamed here (an execution that ran before the page followed it).
    const out = document.getElementById('stdout');
    if (out && !out.textContent && result.stdout) appendText('stdout', result.stdout);
    const err = document.getElementById('stderr');
    if (err && !err.textContent && result.stderr) appendText('stderr', result.stderr);
    const box = document.getElementById('displays');
    if (box && !box.children.length) (result.outputs || []).forEach(showDisplay);
    if (result.error) appendText('error', (result.error.name || 'Error') + ': ' + (result.error.value || '') + '\n');
    const done = document.getElementById('finished');
    if (done) {
      done.hidden = false;
      done.textContent = 'Finished: ' + result.status + '.';
    }
  });
}

document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('[data-stream]').forEach(follow);
});
