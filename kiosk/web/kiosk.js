// The kiosk page: one EventSource; "state" events drive everything.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const showResult = { granted: true, denied: true, error: true, cooldown: true };
  const marks = { granted: "✔", denied: "✖", error: "!" };

  // The header never says "ok" while the page says the gate is out of
  // service or unreachable.
  function setHealth(value, text) {
    const h = $("health");
    h.dataset.health = value;
    h.textContent = text;
  }

  // The gate's lines in the header: the relay energised (unlocked) and
  // the door open; nothing while both are closed or unknown.
  function setGateIO(relay, door) {
    const io = $("gate-io");
    const parts = [];
    if (relay === "open") { parts.push("UNLOCKED"); }
    if (door === "open") { parts.push("DOOR OPEN"); }
    body.dataset.relay = relay || "";
    body.dataset.door = door || "";
    io.textContent = parts.join(" · ");
    io.hidden = parts.length === 0;
  }

  let last = null;
  function render(s) {
    last = s;
    body.dataset.state = s.state;
    setGateIO(s.relay, s.door);
    $("message").textContent = s.message || "";
    // During an evacuation the label says so, not "idle".
    if (s.evacuation) {
      body.dataset.evacuation = "";
    } else {
      delete body.dataset.evacuation;
    }
    $("state").textContent = s.evacuation ? "evacuation" : s.state;
    $("name").textContent = s.name || "";
    if (s.state === "stopped") {
      setHealth("down", "out of service");
    } else {
      setHealth(s.health || "unknown", "health: " + (s.health || "unknown"));
    }
    // "challenge": the worker turns their head to their own left or right;
    // facing the screen, their left is the screen's left.
    const arrow = $("arrow");
    const turn = $("turn");
    if (s.state === "challenge" && (s.challenge === "left" || s.challenge === "right")) {
      arrow.dataset.dir = s.challenge;
      arrow.hidden = false;
      // The meter: how far the head has turned the asked way (0..1).
      const share = typeof s.turn === "number" && isFinite(s.turn) ? Math.max(0, Math.min(1, s.turn)) : 0;
      turn.dataset.dir = s.challenge;
      $("turn-fill").style.width = (share * 100) + "%";
      turn.setAttribute("aria-valuenow", String(Math.round(share * 100)));
      if (share >= 1) {
        turn.dataset.full = "";
      } else {
        delete turn.dataset.full;
      }
      turn.hidden = false;
    } else {
      arrow.hidden = true;
      turn.hidden = true;
    }
    const box = $("box");
    const img = $("preview");
    if (s.box && img && img.clientWidth > 0) {
      const off = img.getBoundingClientRect();
      const parent = $("camera").getBoundingClientRect();
      box.style.left = (off.left - parent.left + s.box.x * off.width) + "px";
      box.style.top = (off.top - parent.top + s.box.y * off.height) + "px";
      box.style.width = (s.box.w * off.width) + "px";
      box.style.height = (s.box.h * off.height) + "px";
      box.hidden = false;
    } else {
      box.hidden = true;
    }
    const r = $("result");
    if (showResult[s.state] && s.decision) {
      r.className = s.decision;
      $("result-mark").textContent = marks[s.decision] || "";
      $("result-text").textContent = s.message || "";
      $("result-name").textContent = s.name || "";
      r.hidden = false;
    } else {
      r.hidden = true;
    }
  }

  // A short break in the stream (daemon restart, Wi-Fi blip) keeps the
  // screen as it is; only a longer one shows "Gate offline".
  let offlineTimer = null;
  function offline() {
    body.dataset.state = "stopped";
    delete body.dataset.evacuation;
    $("message").textContent = "Gate offline";
    $("state").textContent = "offline";
    $("name").textContent = "";
    $("result").hidden = true;
    $("box").hidden = true;
    $("arrow").hidden = true;
    $("turn").hidden = true;
    setHealth("down", "offline");
    setGateIO("", "");
    last = null;
  }

  // The face box is placed in pixels over the preview: place it again
  // when the screen changes size (or turns).
  window.addEventListener("resize", () => { if (last) { render(last); } });

  // The preview: an MJPEG stream that ends (the daemon restarted or
  // stopped) leaves the last frame on screen without an error event, so it
  // is asked for again whenever the event stream comes back.
  const img = $("preview");
  function reloadPreview() {
    if (img) { img.src = "/stream.mjpg?" + Date.now(); }
  }
  let connectedBefore = false;

  // A daemon that hangs (stopped, frozen) keeps its stream open and says
  // nothing: the daemon sends "ping" every 15 s, so a stream silent for
  // 35 s is given up, the screen says "Gate offline" (not the last grant)
  // and a new stream is started.
  const silenceLimit = 35000;
  let silenceTimer = null;

  function connect() {
    const es = new EventSource("/events");
    const heard = () => {
      clearTimeout(silenceTimer);
      silenceTimer = setTimeout(() => {
        silenceTimer = null;
        es.close();
        clearTimeout(offlineTimer);
        offlineTimer = null;
        offline();
        $("conn").textContent = "reconnecting…";
        connect();
      }, silenceLimit);
    };
    // What the page was rendered with: another version (the daemon was
    // upgraded under a browser that runs for months) reloads the page, so
    // that its script and style are the new ones; a new title is shown.
    es.addEventListener("page", (e) => {
      heard();
      let p;
      try { p = JSON.parse(e.data); } catch (err) { return; }
      if (p.version && body.dataset.version && p.version !== body.dataset.version) {
        es.close();
        location.reload();
        return;
      }
      if (typeof p.title === "string" && p.title !== "") {
        $("title").textContent = p.title;
        const at = document.title.indexOf(" — ");
        document.title = p.title + (at >= 0 ? document.title.slice(at) : "");
      }
    });
    es.addEventListener("open", () => {
      $("conn").textContent = "connected";
      clearTimeout(offlineTimer);
      offlineTimer = null;
      heard();
      if (connectedBefore) { reloadPreview(); }
      connectedBefore = true;
    });
    es.addEventListener("ping", heard);
    es.addEventListener("state", (e) => {
      heard();
      try { render(JSON.parse(e.data)); } catch (err) { console.error(err); }
    });
    es.addEventListener("decision", (e) => {
      heard();
      try {
        const ev = JSON.parse(e.data);
        $("conn").textContent = "last decision #" + ev.seq + " " + ev.decision;
      } catch (err) { console.error(err); }
    });
    es.addEventListener("error", () => {
      clearTimeout(silenceTimer);
      silenceTimer = null;
      $("conn").textContent = "reconnecting…";
      if (offlineTimer === null) {
        offlineTimer = setTimeout(offline, 5000);
      }
      // An answer other than 200 (503 while the daemon starts or the
      // streams are full) ends an EventSource for good: start a new one.
      if (es.readyState === EventSource.CLOSED) {
        setTimeout(connect, 2000);
      }
    });
  }

  if (img) {
    // A refused or failed preview request: ask again.
    img.addEventListener("error", () => setTimeout(reloadPreview, 2000));
  }
  setInterval(() => { $("clock").textContent = new Date().toLocaleTimeString(); }, 1000);
  connect();
})();
