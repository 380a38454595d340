<?php
// A site's tracker calls, made the way Gazelle's classes/tracker.class.php makes them
// (written for hayate's tests, not taken from Gazelle): a raw socket, one
// "GET /<secret>/update?action=...&k=v HTTP/1.1" with no Host header and
// Connection: Close, the answer read to the end of the stream; success is the text
// after the last "\n" being "success" (the older classes) or status 200 (newer ones);
// up to 3 attempts with a pause between them.
//
// Usage: php gazelle-tracker.php HOST PORT SECRET CALLS.json
// CALLS.json: [{"action": "...", "params": {"key": "value" | {"bin": "<hex>"} | {"bins": ["<hex>", ...]}}}, ...]
// A {"bin"} value is sent as rawurlencode(hex2bin(...)) like Gazelle's info hashes,
// {"bins"} as the concatenation of several; plain strings go as they are (Gazelle
// does not encode passkeys or peer_id prefixes). Prints one line per call:
// "ok <body>" (body JSON-encoded) or "failed <attempts> <error>".

[$self, $host, $port, $secret, $callsFile] = $argv;
$calls = json_decode(file_get_contents($callsFile), true);

function send_request(string $host, int $port, string $get, int $maxAttempts, &$err): array|false {
    $header = "GET /$get HTTP/1.1\r\nConnection: Close\r\n\r\n";
    $attempts = 0;
    $sleep = 0;
    while ($attempts++ < $maxAttempts) {
        if ($sleep) {
            usleep($sleep);
        }
        $sleep = 500000;
        $file = @fsockopen($host, $port, $errorNum, $errorString, 5);
        if (!$file) {
            $err = "fsockopen: $errorNum $errorString";
            continue;
        }
        if (fwrite($file, $header) === false) {
            $err = 'fwrite failed';
            continue;
        }
        $response = '';
        while (!feof($file)) {
            $response .= fread($file, 1024);
        }
        fclose($file);
        $code = preg_match('/^HTTP\/1\.1 (\d+)/', $response, $m) ? (int)$m[1] : 0;
        $dataStart = strpos($response, "\r\n\r\n") + 4;
        $dataEnd = strrpos($response, "\n");
        $data = $dataEnd > $dataStart ? substr($response, $dataStart, $dataEnd - $dataStart) : '';
        $status = substr($response, $dataEnd + 1);
        if ($status === 'success' || $code === 200) {
            return ['attempts' => $attempts, 'old_rule' => $status === 'success', 'data' => $data, 'body' => substr($response, $dataStart)];
        }
        $err = "status $code: " . trim(substr($response, $dataStart));
    }
    return false;
}

foreach ($calls as $call) {
    $get = $secret . '/update?action=' . $call['action'];
    foreach ($call['params'] ?? [] as $key => $value) {
        if (is_array($value) && isset($value['bin'])) {
            $value = rawurlencode(hex2bin($value['bin']));
        } elseif (is_array($value) && isset($value['bins'])) {
            $value = rawurlencode(implode('', array_map('hex2bin', $value['bins'])));
        }
        $get .= "&$key=$value";
    }
    $err = '';
    $result = send_request($host, (int)$port, $get, 3, $err);
    if ($result === false) {
        echo "failed 3 $err\n";
    } else {
        echo 'ok ' . ($result['old_rule'] ? 'success' : 'code200') . ' ' . json_encode($result['body']) . "\n";
    }
}
