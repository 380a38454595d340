#!/usr/bin/python3
"""A libtorrent-rasterbar client for hayate's end-to-end tests (python3-libtorrent, Debian).

Usage: lt_client.py <torrent file> <save dir> <listen port> <upload limit bytes/s or 0>

Commands on stdin, one per line: `pause`, `resume`, `quit` (a graceful stop: the session
announces event=stopped before this exits). Status goes to stdout as one JSON line a second
and after each command: {"progress": 0..1, "state": "...", "paused": bool}.
Settings keep the tracker the only peer source (no DHT, LSD, UPnP, NAT-PMP, PEX is not
loaded) and allow the test's own addresses: libtorrent's SSRF mitigation refuses tracker URLs
on loopback whose path is not /announce, and a private tracker's is /<passkey>/announce.
"""
import json
import select
import sys
import time

import libtorrent as lt

torrent_file, save_dir, listen_port, upload_limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

session = lt.session({
    'listen_interfaces': f'0.0.0.0:{listen_port}',
    'enable_dht': False,
    'enable_lsd': False,
    'enable_upnp': False,
    'enable_natpmp': False,
    'ssrf_mitigation': False,
    'allow_multiple_connections_per_ip': True,
    # libtorrent waits a minute before reconnecting to a peer it dropped (as on a pause).
    'min_reconnect_time': 1,
    'upload_rate_limit': upload_limit,
    'announce_to_all_tiers': True,
    'alert_mask': lt.alert.category_t.error_notification | lt.alert.category_t.tracker_notification | lt.alert.category_t.status_notification | lt.alert.category_t.peer_notification | lt.alert.category_t.connect_notification,
})
info = lt.torrent_info(torrent_file)
handle = session.add_torrent({'ti': info, 'save_path': save_dir})


def report():
    status = handle.status()
    paused = bool(status.flags & lt.torrent_flags.paused)
    print(json.dumps({'progress': status.progress, 'state': str(status.state), 'paused': paused}), flush=True)


# Whether the tracker has answered the last event=stopped (a resume waits for it: resumed
# while its stop is still in flight, libtorrent holds the endpoint's event=started back until
# its next scheduled announce).
stop_answered = True


def drain_alerts():
    global stop_answered
    for alert in session.pop_alerts():
        message = alert.message()
        print(json.dumps({'alert': alert.what(), 'message': message}), flush=True)
        if 'sending announce (stopped)' in message:
            stop_answered = False
        elif alert.what() == 'tracker_reply':
            stop_answered = True


last = 0.0
while True:
    ready, _, _ = select.select([sys.stdin], [], [], 0.2)
    if ready:
        line = sys.stdin.readline()
        command = line.strip()
        if command == 'pause':
            # A user's pause: the torrent stops and announces event=stopped.
            handle.unset_flags(lt.torrent_flags.auto_managed)
            handle.pause()
        elif command == 'resume':
            deadline = time.time() + 15
            while not stop_answered and time.time() < deadline:
                drain_alerts()
                time.sleep(0.05)
            handle.resume()
        if command == 'quit' or line == '':
            # A graceful exit: stop the torrent, wait for the tracker's answer to its
            # event=stopped (a completed announce still in flight can otherwise swallow it
            # when the session is torn down), then end the session.
            handle.unset_flags(lt.torrent_flags.auto_managed)
            handle.pause()
            stopping, deadline = False, time.time() + 15
            while time.time() < deadline:
                for alert in session.pop_alerts():
                    message = alert.message()
                    print(json.dumps({'alert': alert.what(), 'message': message}), flush=True)
                    if 'sending announce (stopped)' in message:
                        stopping = True
                    elif stopping and alert.what() == 'tracker_reply':
                        deadline = 0
                time.sleep(0.05)
            del handle
            del session
            sys.exit(0)
        report()
    drain_alerts()
    if time.time() - last > 1:
        last = time.time()
        report()
