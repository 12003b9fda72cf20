// The footage viewer: WebRTC with the media service, negotiated through the console (ADR 0022).
// The page only shows; media checks every request against the grant or the zone.
(function () {
  const box = document.getElementById("viewer");
  if (!box) return;
  const form = document.getElementById("viewer-form");
  const video = document.getElementById("viewer-video");
  const status = document.getElementById("viewer-status");
  const refusal = document.getElementById("viewer-refusal");
  const play = document.getElementById("viewer-play");
  const stop = document.getElementById("viewer-stop");
  const seek = document.getElementById("viewer-seek");
  const open = document.getElementById("viewer-open");
  const state = { pc: null, channel: null, frames: 0, session: null };
  window.cctvViewer = state;

  video.addEventListener("contextmenu", (e) => e.preventDefault());
  if (open) {
    open.addEventListener("click", (e) => {
      e.preventDefault();
      const rid = document.getElementById("viewer-request").value.trim();
      if (rid) window.location.search = "?request=" + encodeURIComponent(rid);
    });
  }

  function say(text, s) {
    status.textContent = text;
    status.dataset.state = s;
  }
  function refuse(reply) {
    refusal.hidden = false;
    refusal.dataset.code = reply.code || "";
    refusal.textContent = reply.error || reply.text_zh || "拒绝 refused";
  }
  function countFrames() {
    if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) return;
    const tick = () => {
      state.frames += 1;
      video.dataset.frames = String(state.frames);
      if (state.pc) video.requestVideoFrameCallback(tick);
    };
    video.requestVideoFrameCallback(tick);
  }
  function ended(text, code) {
    if (state.pc) state.pc.close();
    state.pc = null;
    state.channel = null;
    video.srcObject = null;
    if (play) play.disabled = false;
    if (stop) stop.disabled = true;
    if (seek) seek.disabled = true;
    say(text, code || "stopped");
  }
  function gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") resolve();
      });
    });
  }

  async function start() {
    refusal.hidden = true;
    const csrf = form.querySelector("input[name=csrf_token]");
    const camera = document.getElementById("viewer-camera");
    const position = document.getElementById("viewer-position");
    const asked = {
      kind: box.dataset.kind,
      request_id: box.dataset.request || null,
      camera_id: camera ? camera.value.trim() : "",
      position: position && position.value.trim() ? position.value.trim() : null,
    };
    const headers = { "content-type": "application/json", "x-csrf-token": csrf ? csrf.value : "" };
    say("连接中 connecting", "connecting");
    if (play) play.disabled = true;
    // the STUN/TURN servers first (ADR 0028): the page gathers every candidate before it
    // offers, relay ones included; media hands them (and a TURN login) only to an allowed viewer
    const iceResp = await fetch("/api/viewer/ice", {
      method: "POST", credentials: "same-origin", headers, body: JSON.stringify(asked),
    });
    const ice = await iceResp.json();
    if (!ice.ok) {
      refuse(ice);
      ended("被拒绝 refused", "refused");
      return;
    }
    const pc = new RTCPeerConnection({ iceServers: ice.ice_servers || [] });
    pc.addTransceiver("video", { direction: "recvonly" });
    const channel = pc.createDataChannel("control");
    state.pc = pc;
    state.channel = channel;
    pc.ontrack = (e) => {
      video.srcObject = new MediaStream([e.track]);
      countFrames();
    };
    channel.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === "refused") refuse(m);
      else if (m.type === "stopped") {
        if (m.code !== "viewer") refuse(m);
        ended("已结束 stopped: " + m.error, m.code);
      } else if (m.type === "state") say("播放中 playing " + (m.camera_id || "") + " " + (m.position || ""), "playing");
      else if (m.type === "ended") say("录像已播完 end of footage", "ended");
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed" && state.pc === pc) ended("连接中断 connection lost", "failed");
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const resp = await fetch("/api/viewer/offer", {
      method: "POST",
      credentials: "same-origin",
      headers,
      body: JSON.stringify({ ...asked, sdp: pc.localDescription.sdp }),
    });
    const reply = await resp.json();
    if (!reply.ok) {
      refuse(reply);
      ended("被拒绝 refused", "refused");
      return;
    }
    state.session = reply.session_id;
    await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
    if (stop) stop.disabled = false;
    if (seek) seek.disabled = false;
    say("播放中 playing", "playing");
  }

  if (play) play.addEventListener("click", () => start().catch((e) => ended("出错 " + e, "error")));
  if (stop)
    stop.addEventListener("click", () => {
      const ch = state.channel;
      if (ch) {
        ch.onmessage = null; // our own stop: the server's confirmation is not news
        if (ch.readyState === "open") ch.send(JSON.stringify({ op: "stop" }));
      }
      ended("已结束 stopped", "stopped");
    });
  if (seek)
    seek.addEventListener("click", () => {
      const at = document.getElementById("viewer-seek-at").value.trim();
      const camera = document.getElementById("viewer-camera");
      refusal.hidden = true;
      if (state.channel && state.channel.readyState === "open")
        state.channel.send(JSON.stringify({ op: "seek", position: at, camera_id: camera ? camera.value : undefined }));
    });
})();
