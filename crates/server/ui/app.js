// Cruciate's viewer: sign in with a token, the worklist, the exam viewer and the read.
// Plain JavaScript with no dependencies; images come from the API as blobs (they need the token).
"use strict";

const state = { token: sessionStorage.getItem("cruciate-token") || "", exam: null, slice: 0,
  window: null, autoWindow: null, refresh: null, imageSeq: 0, view: null };

const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + state.token }, options.headers || {});
  const response = await fetch("/api/v1" + path, Object.assign({}, options, { headers }));
  if (response.status === 401) { signOut("Your token was refused."); throw new Error("unauthorised"); }
  return response;
}

async function json(path, options) {
  const r = await api(path, options);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function signOut(message) {
  sessionStorage.removeItem("cruciate-token");
  state.token = "";
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  clearInterval(state.refresh);
}

async function signIn(token) {
  state.token = token;
  try {
    const me = await json("/me");
    sessionStorage.setItem("cruciate-token", token);
    state.role = me.role;
    $("pacs-panel").hidden = !me.pacs_search;
    $("who").textContent = me.name + " (" + me.role + ", site " + me.site + ")";
    $("signin").hidden = true;
    $("app").hidden = false;
    showWorklist();
  } catch (e) {
    if (e.message !== "unauthorised") $("signin-error").textContent = e.message;
  }
}

function text(content, cls) {
  const el = document.createElement("span");
  el.textContent = content;
  if (cls) el.className = cls;
  return el;
}

function cell(row, child) {
  const td = document.createElement("td");
  if (typeof child === "string") td.textContent = child; else if (child) td.append(child);
  row.append(td);
}

// A DICOM date (YYYYMMDD) as YYYY-MM-DD.
function dicomDate(d) {
  return d && /^\d{8}$/.test(d) ? d.slice(0, 4) + "-" + d.slice(4, 6) + "-" + d.slice(6) : d || "";
}

// Whose knee it is, as the sender named the patient (shown to the roles the site allows).
function patientText(p) {
  if (!p) return "";
  const name = (p.name || "").split("^").filter(Boolean).join(", ");
  return [name, p.id ? "ID " + p.id : "", p.birth_date ? "born " + dicomDate(p.birth_date) : "", p.sex]
    .filter(Boolean).join(" · ");
}

// The call's style from its class: the first class (healthy, no meniscal tear, normal) is the
// negative one whatever the model's finding.
function callClass(classIndex) {
  if (classIndex == null || classIndex < 0) return "";
  return classIndex === 0 ? "healthy" : "injured";
}

// What a result's probability is of, by the model's finding.
const POSITIVE = { acl: "Injured", meniscus: "Meniscal tear", abnormal: "Abnormality" };
const FINDING_NAMES = { acl: "ACL tear", meniscus: "Meniscal tear", abnormal: "Abnormality" };

// The worklist's columns per finding: one for each finding that a listed exam's reading has,
// before the Model column.
function findingColumns(exams) {
  const findings = [...new Set(exams.flatMap((e) => (e.findings || []).map((f) => f.finding)))];
  const header = $("worklist").querySelector("thead tr");
  header.querySelectorAll(".finding-col").forEach((th) => th.remove());
  const model = [...header.children].find((th) => th.textContent === "Model");
  for (const f of findings) {
    const th = document.createElement("th");
    th.className = "finding-col";
    th.textContent = FINDING_NAMES[f] || f;
    header.insertBefore(th, model);
  }
  return findings;
}

function findingCell(row, exam, finding) {
  const call = (exam.findings || []).find((f) => f.finding === finding);
  if (!call) { cell(row, ""); return; }
  const shown = call.probability == null
    ? text("not analysed", "not-analysed")
    : text(call.probability.toFixed(2), call.probability >= 0.5 ? "injured" : "healthy");
  shown.title = call.text + (call.planes.length ? " (" + call.planes.join(", ") + ")" : "");
  cell(row, shown);
}

// Admins see each stream (model, site, scanner) against the model's validation exams.
async function loadDrift() {
  if (state.role !== "admin") return;
  const view = await json("/drift");
  const body = $("drift").querySelector("tbody");
  body.replaceChildren();
  for (const s of view.streams) {
    const row = document.createElement("tr");
    const c = s.check;
    cell(row, s.model);
    cell(row, s.site);
    cell(row, s.scanner);
    cell(row, c ? String(c.exams) : "");
    cell(row, c ? (100 * c.abstention_rate).toFixed(0) + " %" : "");
    let state_ = "no reference in the model's run";
    if (c && !c.signals.length) state_ = "fewer than " + view.settings.min_exams + " exams";
    else if (c && c.drifting) state_ = "DRIFT: " + c.signals.filter((x) => x.drifting)
      .map((x) => x.signal + " " + x.window_median.toPrecision(4) + " against " + x.reference_median.toPrecision(4)).join("; ");
    else if (c) state_ = "like the validation exams";
    cell(row, state_);
    if (s.alert) row.className = "drift-alert";
    body.append(row);
  }
  $("drift-panel").hidden = false;
}

// The PACS by DICOMweb: its studies found by patient, accession or date, one analysed on request.
async function searchPacs(event) {
  event.preventDefault();
  $("pacs-error").textContent = "";
  const query = new URLSearchParams({ limit: "50" });
  for (const [key, id] of [["PatientID", "pacs-patient"], ["AccessionNumber", "pacs-accession"],
    ["StudyDate", "pacs-date"]]) {
    const value = $(id).value.trim();
    if (value) query.set(key, value);
  }
  const body = $("pacs-studies").querySelector("tbody");
  body.replaceChildren();
  try {
    const studies = await json("/pacs/studies?" + query.toString());
    if (studies.length === 0) $("pacs-error").textContent = "No study on the PACS matches.";
    for (const s of studies) {
      const row = document.createElement("tr");
      cell(row, [s.patient_name, s.patient_id].filter(Boolean).join(", "));
      cell(row, dicomDate(s.study_date));
      cell(row, s.accession_number || "");
      cell(row, s.description || "");
      cell(row, (s.modalities || []).join(" "));
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Analyse";
      button.className = "pacs-analyse";
      button.addEventListener("click", () => analysePacs(s.study_uid, button));
      cell(row, button);
      body.append(row);
    }
  } catch (e) {
    if (e.message !== "unauthorised") $("pacs-error").textContent = e.message;
  }
}

async function analysePacs(uid, button) {
  button.disabled = true;
  button.textContent = "Retrieving\u2026";
  const r = await api("/pacs/studies/" + encodeURIComponent(uid) + "/analyse", { method: "POST" });
  const body = await r.json().catch(() => ({}));
  if (r.status === 202) {
    button.textContent = "Queued";
    loadWorklist();
  } else {
    button.textContent = "Not analysed";
    $("pacs-error").textContent = body.error || r.statusText;
  }
}

async function loadWorklist() {
  loadDrift().catch((e) => console.error(e));
  const params = new URLSearchParams({ sort: $("filter-sort").value, per_page: "100" });
  if ($("filter-status").value) params.set("status", $("filter-status").value);
  const list = await json("/exams?" + params);
  const body = $("worklist").querySelector("tbody");
  body.replaceChildren();
  const findings = findingColumns(list.exams);
  for (const exam of list.exams) {
    const row = document.createElement("tr");
    row.dataset.id = exam.id;
    cell(row, new Date(exam.created_ms).toLocaleString());
    cell(row, exam.filename);
    cell(row, patientText(exam.patient));
    cell(row, exam.patient ? exam.patient.accession_number : "");
    cell(row, exam.patient ? dicomDate(exam.patient.study_date) : "");
    cell(row, exam.series_description || "");
    cell(row, text(exam.status, "status " + exam.status));
    // An exam the input gate refused shows no call: "not analysed", its reasons on hover.
    const call = exam.not_analysed && !exam.outside_domain
      ? text("not analysed", "not-analysed")
      : text(exam.call_label || (exam.error ? "—" : ""), callClass(exam.call_class));
    const callCell = document.createElement("span");
    callCell.append(call);
    if (exam.outside_domain) callCell.append(text("outside the model's domain", "tag outside"));
    if (exam.synthetic_model) callCell.append(text("synthetic", "tag"));
    cell(row, callCell);
    cell(row, exam.injured_probability == null ? "" : exam.injured_probability.toFixed(2));
    for (const f of findings) findingCell(row, exam, f);
    cell(row, exam.model);
    cell(row, exam.read_grade == null ? "" : "grade " + exam.read_grade);
    if (exam.error) row.title = exam.error;
    if (exam.not_analysed) row.title = "Not analysed: " + exam.not_analysed;
    row.addEventListener("click", () => openExam(exam.id));
    body.append(row);
  }
  $("count").textContent = list.total + " exam" + (list.total === 1 ? "" : "s");
}

function showWorklist() {
  $("viewer").hidden = true;
  $("worklist-view").hidden = false;
  state.exam = null;
  loadWorklist().catch((e) => console.error(e));
  clearInterval(state.refresh);
  state.refresh = setInterval(() => { if (!state.exam) loadWorklist().catch(() => {}); }, 3000);
}

function upload(file) {
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/v1/exams?filename=" + encodeURIComponent(file.name));
  xhr.setRequestHeader("Authorization", "Bearer " + state.token);
  xhr.setRequestHeader("Content-Type", "application/octet-stream");
  $("upload-progress").hidden = false;
  $("upload-text").textContent = "uploading " + file.name;
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) $("upload-bar").value = (100 * e.loaded) / e.total; };
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
    $("upload-text").textContent = xhr.status === 202 ? file.name + ": queued for analysis"
      : file.name + ": " + (body.error || xhr.statusText);
    loadWorklist().catch(() => {});
  };
  xhr.onerror = () => { $("upload-text").textContent = file.name + ": the upload failed"; };
  xhr.send(file);
}

async function blobUrl(path) {
  const r = await api(path);
  if (!r.ok) return null;
  return URL.createObjectURL(await r.blob());
}

// The query of an image: the window, and a reading's plane and finding.
function imageQuery(withWindow, extra) {
  const params = new URLSearchParams(extra || {});
  if (withWindow && state.window) params.set("window", state.window.c.toFixed(2) + "," + state.window.w.toFixed(2));
  if (state.view) { params.set("plane", state.view.plane); params.set("finding", state.view.finding); }
  const q = params.toString();
  return q ? "?" + q : "";
}

// The series shown: a reading's chosen plane, else the exam's one series.
function shownSeries(exam) {
  const planes = exam.result ? exam.result.planes : [];
  const series = state.view && planes.find((p) => p.plane === state.view.plane);
  return series ? series.exam : { shape: exam.volume.shape, intensity_range: exam.volume.intensity_range };
}

// The slices the model of the shown finding saw on the shown plane, and its key slice there.
function shownExplanation(exam) {
  const r = exam.result;
  if (!r) return null;
  if (!state.view) return r.explanation ? { slices: r.slices, key: r.explanation.key_slice } : { slices: r.slices, key: null };
  const f = r.findings.find((x) => x.finding === state.view.finding);
  const e = f && f.explanations.find((x) => x.plane === state.view.plane);
  return e ? { slices: e.slices, key: e.explanation.key_slice } : null;
}

// A reading's plane and finding switches.
function renderViewSwitch(exam) {
  const r = exam.result;
  const reading = r && r.planes && r.planes.length > 0;
  $("view-switch").hidden = !reading;
  state.view = null;
  if (!reading) return;
  state.view = { plane: r.planes[0].plane, finding: r.finding };
  const head = r.findings.find((f) => f.finding === r.finding);
  const used = head && head.call.planes_used.length ? head.call.planes_used[0] : null;
  if (used && r.planes.some((p) => p.plane === used)) state.view.plane = used;
  $("plane-select").replaceChildren(...r.planes.map((p) => new Option(p.plane, p.plane)));
  $("finding-select").replaceChildren(...r.findings.map((f) => new Option(FINDING_NAMES[f.finding] || f.finding, f.finding)));
  $("plane-select").value = state.view.plane;
  $("finding-select").value = state.view.finding;
}

function switchView() {
  if (!state.exam || !state.view) return;
  state.view = { plane: $("plane-select").value, finding: $("finding-select").value };
  const series = shownSeries(state.exam);
  state.exam.window_range = series.intensity_range;
  $("slice-slider").max = series.shape[0] - 1;
  const seen = shownExplanation(state.exam);
  state.slice = seen && seen.key != null ? seen.key : Math.floor(series.shape[0] / 2);
  renderKeyMarks(state.exam);
  showSlice();
}

async function showSlice() {
  const exam = state.exam;
  if (!exam || !exam.volume) return;
  const seq = ++state.imageSeq;
  const n = state.slice;
  $("slice-slider").value = n;
  // A not-analysed exam shows its slices with no heat map.
  const explained = shownExplanation(exam);
  const seen = explained ? explained.slices : null;
  const inModel = !seen || (n >= seen[0] && n < seen[1]) ? "" : " (not seen by the model)";
  const series = shownSeries(exam);
  // Slices are counted from 1, as radiologists count them (the API's indices start at 0).
  $("slice-label").textContent = (state.view ? state.view.plane + " " : "") + "slice " + (n + 1) + " of " + series.shape[0] + inModel;
  const [slice, cam] = await Promise.all([
    blobUrl("/exams/" + exam.id + "/slices/" + n + ".png" + imageQuery(true)),
    exam.result && $("cam-toggle").checked ? blobUrl("/exams/" + exam.id + "/cam/" + n + ".png" + imageQuery(false)) : Promise.resolve(null),
  ]);
  if (seq !== state.imageSeq) return;
  for (const [img, url] of [[$("slice-img"), slice], [$("cam-img"), cam]]) {
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    if (url) { img.src = url; img.hidden = false; } else { img.removeAttribute("src"); img.hidden = true; }
  }
  $("cam-img").style.opacity = $("cam-opacity").value / 100;
  // The ACL region a cascade's classifier was given, on the slices it spans.
  const region = exam.result && !state.view ? exam.result.region : null;
  const box = $("region-box");
  box.hidden = !(region && n >= region[0] && n < region[1]);
  if (!box.hidden) {
    const [, rows, cols] = exam.volume.shape;
    box.style.top = (100 * region[2]) / rows + "%";
    box.style.height = (100 * (region[3] - region[2])) / rows + "%";
    box.style.left = (100 * region[4]) / cols + "%";
    box.style.width = (100 * (region[5] - region[4])) / cols + "%";
  }
}

function renderResult(exam) {
  const box = $("result");
  box.replaceChildren();
  $("synthetic-label").hidden = !(exam.result && exam.result.synthetic_model) && exam.synthetic_model !== true;
  $("error").textContent = exam.error ? "Failed: " + exam.error : "";
  if (exam.not_analysed && !exam.outside_domain) {
    box.append(text("Not analysed: " + exam.not_analysed, "not-analysed"));
    box.append(text("The exam is outside what the model was made for: no grade is given. " +
      exam.notices.join(" "), "meta"));
    if (state.role === "admin") {
      const show = document.createElement("button");
      show.type = "button";
      show.id = "show-call";
      show.textContent = "Show the model's call anyway (outside its domain; audited)";
      show.addEventListener("click", async () => {
        await json("/exams/" + exam.id + "/show-call", { method: "POST" })
          .then(() => openExam(exam.id))
          .catch((e) => { $("error").textContent = e.message; });
      });
      box.append(show);
    }
    return;
  }
  if (!exam.result) {
    box.append(text(exam.status === "failed" ? "" : "Analysis " + exam.status + "…"));
    return;
  }
  const r = exam.result;
  if (exam.outside_domain) {
    box.append(text("Outside the model's domain (shown by an admin): " + exam.not_analysed, "warning"));
  }
  const call = document.createElement("div");
  call.className = "call " + callClass(r.classes.indexOf(r.label));
  call.textContent = r.grade == null ? r.label : "grade " + r.grade + ": " + r.label;
  // A reading's headline is one of its findings: say which.
  if (r.findings && r.findings.length) call.textContent = (FINDING_NAMES[r.finding] || r.finding) + ": " + call.textContent;
  box.append(call);
  if (r.grade_set_text) {
    const set = text("Grade set (conformal): " + r.grade_set_text, "grade-set");
    set.id = "grade-set";
    set.title = "The grades that hold the true one for this share of exams like the model's validation exams";
    box.append(set);
  }
  r.classes.forEach((name, k) => {
    const bar = document.createElement("div");
    bar.className = "bar" + (name === r.label ? " called" : "");
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = (100 * r.probabilities[k]).toFixed(1) + "%";
    track.append(fill);
    bar.append(text(name), track, text(r.probabilities[k].toFixed(3)));
    box.append(bar);
  });
  const meta = document.createElement("div");
  meta.className = "meta";
  const key = r.explanation ? "Key slice " + (r.explanation.key_slice + 1) + " (the largest share of the heat map). " : "";
  const strongest = "Strongest slice per class: " +
    r.classes.map((name, c) => name + " " + (r.strongest_slices[c] + 1)).join(", ") + ". ";
  meta.textContent = (POSITIVE[r.finding] || POSITIVE.acl) + " probability " + r.injured_probability.toFixed(3) + ". " + key + strongest +
    "Model " + r.model + (r.model_hash ? " (" + r.model_hash.slice(0, 12) + "…)" : "") + ", " + r.software +
    ". " + exam.notices.join(" ");
  box.append(meta);
  for (const w of r.warnings || []) box.append(text(w, "warning"));
  if (r.findings && r.findings.length) {
    // A reading: every finding's call, with the planes it comes from.
    const list = document.createElement("ul");
    list.id = "findings";
    for (const f of r.findings) {
      const li = document.createElement("li");
      li.dataset.finding = f.finding;
      li.className = f.call.probability == null ? "not-analysed" : f.call.probability >= 0.5 ? "injured" : "healthy";
      const planes = f.call.planes_used.length ? " (from " + f.call.planes_used.join(", ") + ")" : "";
      li.textContent = (FINDING_NAMES[f.finding] || f.finding) + ": " + f.text + planes;
      // The headline's read is the form below (with the grade); each other finding analysed
      // is agreed with or not here.
      if (f.finding !== r.finding && f.call.probability != null) {
        for (const [label, agrees] of [["Agree", true], ["Differ", false]]) {
          const b = document.createElement("button");
          b.type = "button";
          b.textContent = label;
          b.className = agrees ? "finding-agree" : "finding-differ";
          b.addEventListener("click", () => recordFinding(f.finding, agrees));
          li.append(" ", b);
        }
      }
      const read = (exam.finding_reads || []).find((x) => x.finding === f.finding);
      if (read) {
        li.append(text(" Read: " + (read.present ? "present" : "absent") +
          (read.agrees ? " (agrees)" : " (differs)") + " by " + read.by, "finding-read"));
      }
      list.append(li);
    }
    box.append(list);
  }
  if (r.spacing_known === false) {
    const note = text("Voxel spacing unknown: the file carries none (1 x 1 x 1 mm assumed).", "meta");
    note.id = "spacing-unknown";
    box.append(note);
  }
}

// Labelled ticks under the slider: the first and last slice, the key slice (the largest share
// of the heat map) and each class's strongest slice, numbered from 1.
function renderKeyMarks(exam) {
  const marks = $("key-marks");
  marks.replaceChildren();
  if (!exam.result) return;
  const r = exam.result;
  const shape = shownSeries(exam).shape;
  const explained = shownExplanation(exam);
  const last = Math.max(1, shape[0] - 1);
  const mark = (k, kind, title) => {
    const m = document.createElement("div");
    m.className = "slice-mark " + kind;
    m.style.left = (100 * k) / last + "%";
    m.textContent = String(k + 1);
    m.title = title;
    marks.append(m);
  };
  mark(0, "end", "first slice");
  mark(shape[0] - 1, "end", "last slice");
  if (explained && explained.key != null) {
    mark(explained.key, "key", "key slice: the largest share of the heat map");
  }
  if (state.view) return;
  r.classes.forEach((name, c) => {
    const k = r.strongest_slices[c];
    if (!r.explanation || k !== r.explanation.key_slice) mark(k, "strongest", "strongest slice for " + name);
  });
}

async function openExam(id) {
  clearInterval(state.refresh);
  const exam = await json("/exams/" + id);
  state.exam = exam;
  state.exam.window_range = exam.volume ? exam.volume.intensity_range : null;
  state.window = null;
  $("worklist-view").hidden = true;
  $("viewer").hidden = false;
  $("exam-title").textContent = exam.filename;
  $("exam-patient").textContent = [patientText(exam.patient),
    exam.patient && exam.patient.accession_number ? "accession " + exam.patient.accession_number : "",
    exam.patient ? dicomDate(exam.patient.study_date) : "", exam.series_description || ""]
    .filter(Boolean).join(" · ");
  $("exam-status").replaceChildren(text(exam.status, "status " + exam.status));
  renderResult(exam);
  renderViewSwitch(exam);
  if (state.view) state.exam.window_range = shownSeries(exam).intensity_range;
  renderKeyMarks(exam);
  renderDicom(exam);
  $("read-form").hidden = !exam.result;
  $("read-state").textContent = exam.read ? "Recorded: grade " + exam.read.grade +
    (exam.read.agrees ? " (agrees)" : " (differs)") + " by " + (exam.read.by || "?") : "";
  if (exam.volume) {
    const shape = shownSeries(exam).shape;
    const explained = shownExplanation(exam);
    $("slice-slider").max = shape[0] - 1;
    state.slice = explained && explained.key != null ? explained.key : Math.floor(shape[0] / 2);
    await showSlice();
  } else {
    $("slice-img").hidden = true;
    $("cam-img").hidden = true;
    if (exam.status !== "queued" && exam.status !== "running") return;
    state.refresh = setInterval(async () => {
      const again = await json("/exams/" + id).catch(() => null);
      if (again && again.status !== exam.status && state.exam && state.exam.id === id) openExam(id);
    }, 2000);
  }
}

async function renderDicom(exam) {
  // Results as DICOM belong to exams that came as DICOM (a .npy or NIfTI exam has no study to
  // put them in).
  const panel = $("dicom");
  panel.hidden = !exam.volume || exam.format !== "dicom";
  if (panel.hidden) return;
  const status = await json("/exams/" + exam.id + "/dicom").catch(() => null);
  if (!status || !state.exam || state.exam.id !== exam.id) return;
  const src = status.source;
  $("dicom-source").textContent = src
    ? "Received from " + src.calling_ae + ": " + src.series.map((s) =>
      (s.description || "no description") + " (" + s.plane + ", " + s.instances + " images" + (s.chosen ? ", analysed" : "") + ")").join("; ")
    : "Uploaded; results can still be downloaded as DICOM.";
  $("dicom-sends").replaceChildren(...status.sends.map((s) => {
    const li = document.createElement("li");
    li.className = "send " + s.status;
    li.textContent = s.destination + ": " + s.status + (s.attempts ? " after " + s.attempts + " attempt(s)" : "") +
      (s.last_error && s.status !== "sent" ? " (" + s.last_error + ")" : "");
    return li;
  }));
  $("send-pacs").hidden = status.destinations.length === 0;
}

function step(delta) {
  if (!state.exam || !state.exam.volume) return;
  const max = shownSeries(state.exam).shape[0] - 1;
  state.slice = Math.max(0, Math.min(max, state.slice + delta));
  showSlice();
}

async function record(grade, agrees) {
  const exam = state.exam;
  await json("/exams/" + exam.id + "/read", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ grade: grade == null ? null : Number(grade), agrees }) }).catch((e) => { $("read-state").textContent = e.message; });
  openExam(exam.id);
}

// A reading's other finding read: whether the radiologist agrees with the call on it.
async function recordFinding(finding, agrees) {
  const exam = state.exam;
  await json("/exams/" + exam.id + "/findings/" + finding + "/read", { method: "POST",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ agrees }) })
    .catch((e) => { $("read-state").textContent = e.message; });
  openExam(exam.id);
}

const PRESETS = { soft: [0.35, 0.6], bright: [0.6, 0.5], wide: [0.5, 1.2] };

function setup() {
  $("signin-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("token").value.trim()); });
  $("pacs-form").addEventListener("submit", searchPacs);
  $("filter-status").addEventListener("change", () => loadWorklist());
  $("filter-sort").addEventListener("change", () => loadWorklist());
  $("back").addEventListener("click", showWorklist);
  $("file").addEventListener("change", (e) => { if (e.target.files[0]) upload(e.target.files[0]); });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]); });
  $("slice-slider").addEventListener("input", (e) => { state.slice = Number(e.target.value); showSlice(); });
  $("stage").addEventListener("wheel", (e) => { e.preventDefault(); step(e.deltaY > 0 ? 1 : -1); }, { passive: false });
  document.addEventListener("keydown", (e) => {
    if ($("viewer").hidden || e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
    if (e.key === "ArrowUp" || e.key === "ArrowRight") { step(1); e.preventDefault(); }
    if (e.key === "ArrowDown" || e.key === "ArrowLeft") { step(-1); e.preventDefault(); }
    if (e.key === "Escape") showWorklist();
  });
  $("cam-toggle").addEventListener("change", showSlice);
  $("plane-select").addEventListener("change", switchView);
  $("finding-select").addEventListener("change", switchView);
  $("cam-opacity").addEventListener("input", () => { $("cam-img").style.opacity = $("cam-opacity").value / 100; });
  $("window-preset").addEventListener("change", async (e) => {
    const preset = PRESETS[e.target.value];
    state.window = null;
    if (preset && state.exam) {
      // Presets are fractions of the exam's range, measured from its own slice values.
      const range = state.exam.window_range || [0, 1];
      state.window = { c: range[0] + preset[0] * (range[1] - range[0]), w: preset[1] * (range[1] - range[0]) };
    }
    showSlice();
  });
  let drag = null;
  $("stage").addEventListener("mousedown", (e) => { drag = { x: e.clientX, y: e.clientY, base: state.window || { c: 0.5, w: 1 } }; });
  window.addEventListener("mouseup", () => { if (drag) { drag = null; showSlice(); } });
  window.addEventListener("mousemove", (e) => {
    if (!drag || !state.exam) return;
    const range = state.exam.window_range || [0, 1];
    const span = range[1] - range[0] || 1;
    const base = state.window ? drag.base : { c: range[0] + 0.5 * span, w: span };
    state.window = { c: base.c - ((e.clientY - drag.y) / 512) * span, w: Math.max(span * 0.02, base.w + ((e.clientX - drag.x) / 512) * span) };
    drag.base = state.window; drag.x = e.clientX; drag.y = e.clientY;
  });
  $("agree").addEventListener("click", () => {
    // A call that names its grade (a graded model, or "healthy") is agreed with as it is; a
    // binary model's "injured" names none, so the grade read must be chosen first.
    const r = state.exam.result;
    if (r.grade != null || r.label === "healthy") { record(null, true); return; }
    const chosen = $("read-grade").value;
    if (chosen === "" || chosen === "0") {
      $("read-state").textContent = "The model says injured without a grade: choose the grade you read (1 to 3), then Agree.";
      return;
    }
    record(chosen, true);
  });
  $("read-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const chosen = $("read-grade").value;
    if (chosen === "") { $("read-state").textContent = "Choose the grade you read."; return; }
    record(chosen, false);
  });
  $("export").addEventListener("click", async () => {
    const url = await blobUrl("/exams/" + state.exam.id + "/cam/" + state.slice + ".png" + imageQuery(false, { burned: "true" }));
    if (!url) return;
    const a = document.createElement("a");
    a.href = url; a.download = state.exam.id + "-slice-" + state.slice + ".png"; a.click();
  });
  $("download-sr").addEventListener("click", async () => {
    const url = await blobUrl("/exams/" + state.exam.id + "/sr.dcm");
    if (!url) return;
    const a = document.createElement("a");
    a.href = url; a.download = state.exam.id + "-sr.dcm"; a.click();
  });
  $("send-pacs").addEventListener("click", async () => {
    await json("/exams/" + state.exam.id + "/send", { method: "POST" }).catch((e) => { $("error").textContent = e.message; });
    renderDicom(state.exam);
  });
  if (state.token) signIn(state.token); else signOut();
}

document.addEventListener("DOMContentLoaded", setup);
