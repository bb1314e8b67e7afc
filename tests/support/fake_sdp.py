"""The fake Realtime service answering a real browser's SDP offer with an SDP answer the browser
accepts (the fake's fixed answer names no ICE credentials or DTLS fingerprint, which Chromium's
`setRemoteDescription` requires). It also keeps each offer, so a test sees what reached it."""

from __future__ import annotations

import secrets

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from tests.support.fake_realtime import FakeRealtime


def answer_for(offer: str) -> str:
    """A syntactically complete answer: one section per offered m-line, same mids, our ICE and DTLS
    parameters (random: no media ever flows; the call's events go over the sideband)."""
    sections: list[list[str]] = []
    for line in offer.replace("\r\n", "\n").split("\n"):
        if line.startswith("m="):
            sections.append([line])
        elif sections and line:
            sections[-1].append(line)
    mids = [next((x[6:] for x in s if x.startswith("a=mid:")), str(i)) for i, s in enumerate(sections)]
    fingerprint = ":".join(f"{b:02X}" for b in secrets.token_bytes(32))
    ufrag, pwd = secrets.token_hex(4), secrets.token_hex(12)
    out = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", f"a=group:BUNDLE {' '.join(mids)}"]
    for section, mid in zip(sections, mids, strict=True):
        kind = section[0].split()[0][2:]
        common = [
            "c=IN IP4 0.0.0.0",
            f"a=ice-ufrag:{ufrag}",
            f"a=ice-pwd:{pwd}",
            f"a=fingerprint:sha-256 {fingerprint}",
            "a=setup:active",
            f"a=mid:{mid}",
        ]
        if kind == "audio":
            out += ["m=audio 9 UDP/TLS/RTP/SAVPF 111", *common, "a=sendrecv", "a=rtcp-mux"]
            out += ["a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1"]
        elif kind == "application":
            out += ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel", *common, "a=sctp-port:5000"]
        else:
            out += [f"m={kind} 0 UDP/TLS/RTP/SAVPF 0", *common, "a=inactive"]
    return "\r\n".join(out) + "\r\n"


class BrowserFakeRealtime(FakeRealtime):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.offers: list[str] = []

    async def _create_call_endpoint(self, request: Request) -> Response:
        offer = ""
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()  # Starlette keeps the parsed form for the fake's own read
            part = form.get("sdp")
            if isinstance(part, UploadFile):
                offer = (await part.read()).decode("utf-8", "replace")
                await part.seek(0)
            elif isinstance(part, str):
                offer = part
            self.offers.append(offer)
        response = await super()._create_call_endpoint(request)
        if response.status_code != 201 or not offer:
            return response
        headers = {"Location": response.headers["location"]}
        return Response(answer_for(offer), status_code=201, media_type="application/sdp", headers=headers)
