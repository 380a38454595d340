/*
 * The load generator of bench/loadgen.ts in C, for the throughput runs.
 *
 * Why: the generator shares the two cores with the tracker it measures and with MariaDB. The Node
 * generator spends 13-16 CPU-us a request (a socket write and read through Node's streams), about a
 * fifth of the machine at 28,000 requests/s, whichever server it drives; this one about 8 to 11, most
 * of it the kernel's loopback TCP. Both
 * servers lose the same CPU to it, but a generator that takes less leaves more of the machine to the
 * servers and so measures them rather than itself.
 *
 * Same load as loadgen.ts: the virtual peers are its makePeers' (a file written by bench/native-loadgen.ts:
 * one peer a line, "<announce prefix>\t<scrape request line>\t<size>\t<left>"), dealt to the
 * connections by index modulo their count; each connection sends one request at a time (started,
 * periodic announces with growing counters, completed, stopped now and then), scrapes among them at
 * the given share, keep-alive, reconnecting after each answer when the server closes (opentracker);
 * with a rate, each connection's requests are due at fixed times and latency counts from then. The
 * per-request random choices follow the same mulberry32 sequence and arithmetic as loadgen.ts.
 *
 * Usage: loadgen-native HOST PORT CONNECTIONS WARMUP_S DURATION_S SCRAPE_SHARE RATE SEED PEERS_FILE [HEADER]
 * HOST "unix:/path" connects to a Unix socket (PORT ignored), as nginx reaches a tracker on its host;
 * HEADER ("X-Real-IP: 127.0.0.1") is sent in every request after Host, as nginx adds it (loadgen.ts
 * has neither: TCP and no extra header only).
 * Prints one JSON object of loadgen.ts's LoadResult shape on stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_ROOM 1024
#define READ_ROOM 65536

/* The requests' ends, announce and scrape, with the optional HEADER line after Host (made in main()). */
static char TAIL[256];
static char TAIL_SCRAPE[256];
static size_t tail_len, tail_scrape_len;
static const char FAILURE[] = "14:failure reason";

typedef struct {
  char *prefix;
  size_t prefix_len;
  char *scrape; /* the whole scrape request, tail included */
  size_t scrape_len;
  int64_t size, uploaded, downloaded, left;
  int started;
} peer_t;

typedef struct {
  int fd;
  int connecting;
  int finished;
  peer_t **own;
  size_t own_count, cursor;
  char request[REQUEST_ROOM];
  const char *out; /* the request in flight: `request` or a peer's scrape */
  size_t out_len, out_written;
  char *in;
  size_t in_len, in_room;
  int waiting, header_end, close_delimited, head_closing, server_closes;
  long expected_length;
  double sent_at, due, due_at, timer_at; /* ms on the monotonic clock; timer_at 0: none */
} conn_t;

typedef struct {
  float *v;
  size_t n, room;
} series_t;

static struct {
  const char *host;
  int port, connections;
  double warmup_s, duration_s, scrape_share, rate;
  struct sockaddr_storage addr;
  socklen_t addr_len;
} opt;

static uint32_t rng_state;
static int epfd;
static double warmup_end, end_at, every_ms;
static long requests, all_requests, failures, errors, connects, response_bytes;
static char first_failure[256];
static int has_first_failure;
static series_t *per_second;
static size_t seconds_room;
static int active;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* mulberry32, as loadgen.ts's prng(): the same sequence for the same seed. */
static double rnd(void) {
  rng_state += 0x6d2b79f5u;
  uint32_t t = rng_state;
  t = (t ^ (t >> 15)) * (t | 1u);
  t ^= t + (t ^ (t >> 7)) * (t | 61u);
  return (double)(t ^ (t >> 14)) / 4294967296.0;
}

static void fail_note(const char *text, size_t len) {
  if (has_first_failure) return;
  has_first_failure = 1;
  if (len >= sizeof first_failure) len = sizeof first_failure - 1;
  memcpy(first_failure, text, len);
  first_failure[len] = 0;
}

static size_t put(char *at, const char *s, size_t n) {
  memcpy(at, s, n);
  return n;
}

static size_t put_decimal(char *at, int64_t v) {
  char digits[24];
  size_t n = 0;
  if (v <= 0) {
    at[0] = '0';
    return 1;
  }
  while (v > 0) {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  }
  for (size_t i = 0; i < n; i++) at[i] = digits[n - 1 - i];
  return n;
}

/* loadgen.ts's writeRequest: the peer's next announce into `buf`, advancing its state. */
static size_t write_request(peer_t *p, char *buf) {
  const char *event = NULL;
  if (!p->started) {
    p->started = 1;
    event = "&event=started";
  } else {
    double r = rnd();
    if (r < 0.03) {
      event = "&event=stopped";
      p->started = 0;
    } else {
      p->uploaded += (int64_t)floor(rnd() * 10000000.0);
      if (p->left > 0) {
        int64_t got = (int64_t)floor(rnd() * (double)p->size * 0.2);
        if (got > p->left) got = p->left;
        p->downloaded += got;
        p->left -= got;
        if (p->left == 0 || r < 0.06) {
          p->left = 0;
          event = "&event=completed";
        }
      }
    }
  }
  size_t at = put(buf, p->prefix, p->prefix_len);
  at += put(buf + at, "&uploaded=", 10);
  at += put_decimal(buf + at, p->uploaded);
  at += put(buf + at, "&downloaded=", 12);
  at += put_decimal(buf + at, p->downloaded);
  at += put(buf + at, "&left=", 6);
  at += put_decimal(buf + at, p->left);
  if (event) at += put(buf + at, event, strlen(event));
  at += put(buf + at, TAIL, tail_len);
  if (!p->started) {
    /* After stopping, the client starts over as a fresh leecher of the same torrent. */
    p->uploaded = 0;
    p->downloaded = 0;
    p->left = p->size;
  }
  return at;
}

static void record(double sent_at, double latency) {
  size_t second = (size_t)floor((sent_at - warmup_end) / 1000.0);
  if (second >= seconds_room) return;
  series_t *s = &per_second[second];
  if (s->n == s->room) {
    s->room = s->room ? s->room * 2 : 4096;
    s->v = realloc(s->v, s->room * sizeof(float));
    if (!s->v) abort();
  }
  s->v[s->n++] = (float)latency;
}

static void close_conn(conn_t *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->connecting = 0;
}

static void send_next(conn_t *c);
static void open_conn(conn_t *c);

static void on_error(conn_t *c, const char *what) {
  errors++;
  fail_note(what, strlen(what));
  c->waiting = 0;
  close_conn(c);
  c->timer_at = now_ms() + 10;
}

static void do_write(conn_t *c) {
  while (c->out_written < c->out_len) {
    ssize_t n = write(c->fd, c->out + c->out_written, c->out_len - c->out_written);
    if (n < 0) {
      if (errno == EAGAIN) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        return;
      }
      if (errno == EINTR) continue;
      on_error(c, strerror(errno));
      return;
    }
    c->out_written += (size_t)n;
  }
}

static void start_write(conn_t *c) {
  c->in_len = 0;
  c->header_end = -1;
  c->expected_length = -1;
  c->close_delimited = 0;
  c->waiting = 1;
  double now = now_ms();
  c->sent_at = every_ms > 0 && c->due_at < now ? c->due_at : now;
  c->out_written = 0;
  do_write(c);
}

static void finish(conn_t *c) {
  c->timer_at = 0;
  close_conn(c);
  if (!c->finished) {
    c->finished = 1;
    active--;
  }
}

static void send_next(conn_t *c) {
  c->timer_at = 0;
  double now = now_ms();
  if (now >= end_at) {
    finish(c);
    return;
  }
  if (every_ms > 0 && now < c->due) {
    c->timer_at = c->due;
    return;
  }
  c->due_at = c->due;
  c->due += every_ms;
  peer_t *p = c->own[c->cursor];
  c->cursor = c->cursor + 1 == c->own_count ? 0 : c->cursor + 1;
  if (opt.scrape_share > 0 && rnd() < opt.scrape_share) {
    c->out = p->scrape;
    c->out_len = p->scrape_len;
  } else {
    c->out = c->request;
    c->out_len = write_request(p, c->request);
  }
  c->waiting = 1;
  if (c->fd < 0) {
    open_conn(c);
    return;
  }
  start_write(c);
}

static void complete(conn_t *c, const char *body, size_t len, int status) {
  c->waiting = 0;
  all_requests++;
  double now = now_ms();
  if (c->sent_at >= warmup_end && now <= end_at) {
    requests++;
    response_bytes += (long)len;
    record(c->sent_at, now - c->sent_at);
    if (status != 200 || len == 0 || body[0] != 'd') {
      errors++;
      if (!has_first_failure) {
        char note[200];
        int n = snprintf(note, sizeof note, "status %d: %.*s", status, (int)(len < 120 ? len : 120), body);
        fail_note(note, n > 0 ? (size_t)n : 0);
      }
    } else if (memmem(body, len, FAILURE, sizeof FAILURE - 1)) {
      failures++;
      fail_note(body, len < 200 ? len : 200);
    }
  }
}

static int status_of(conn_t *c) {
  if (c->in_len < 12) return 0;
  return (c->in[9] - '0') * 100 + (c->in[10] - '0') * 10 + (c->in[11] - '0');
}

static void parse(conn_t *c) {
  if (c->header_end == -1) {
    char *at = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!at) return;
    size_t head_len = (size_t)(at - c->in);
    c->header_end = (int)head_len + 4;
    c->head_closing = 0;
    c->expected_length = -1;
    /* Header lines, case-insensitively: Content-Length and Connection: close. */
    size_t line = 0;
    while (line < head_len) {
      char *eol = memmem(c->in + line, head_len - line, "\r\n", 2);
      size_t line_end = eol ? (size_t)(eol - c->in) : head_len;
      size_t n = line_end - line;
      if (n > 15 && strncasecmp(c->in + line, "content-length:", 15) == 0)
        c->expected_length = strtol(c->in + line + 15, NULL, 10);
      else if (n >= 17 && strncasecmp(c->in + line, "connection: close", 17) == 0)
        c->head_closing = 1;
      line = line_end + 2;
    }
    if (c->expected_length < 0) c->close_delimited = 1;
  }
  if (c->expected_length >= 0 && (long)(c->in_len - (size_t)c->header_end) >= c->expected_length) {
    complete(c, c->in + c->header_end, (size_t)c->expected_length, status_of(c));
    if (c->head_closing || c->server_closes) close_conn(c);
    send_next(c);
  }
}

static void on_end(conn_t *c) {
  if (c->waiting && c->close_delimited && c->in_len > 0 && c->header_end != -1) {
    complete(c, c->in + c->header_end, c->in_len - (size_t)c->header_end, status_of(c));
  } else if (c->waiting && c->in_len == 0 && !c->server_closes) {
    /* Closed after the previous answer, before reading this request: send it again on a new connection. */
    c->server_closes = 1;
    close_conn(c);
    open_conn(c);
    return;
  } else if (c->waiting) {
    errors++;
    c->waiting = 0;
  }
  close_conn(c);
  send_next(c);
}

static void open_conn(conn_t *c) {
  if (now_ms() >= warmup_end) connects++;
  int fd = socket(opt.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    on_error(c, strerror(errno));
    return;
  }
  int one = 1;
  if (opt.addr.ss_family != AF_UNIX) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  c->in_len = 0;
  if (connect(fd, (struct sockaddr *)&opt.addr, opt.addr_len) < 0 && errno != EINPROGRESS) {
    on_error(c, strerror(errno));
    return;
  }
  c->connecting = 1;
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void on_event(conn_t *c, uint32_t events) {
  if (c->fd < 0) return;
  if (c->connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      on_error(c, strerror(err));
      return;
    }
    c->connecting = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    if (c->waiting)
      start_write(c);
    else
      send_next(c);
    return;
  }
  if (events & EPOLLOUT) {
    if (c->out_written < c->out_len) do_write(c);
    if (c->fd >= 0 && c->out_written >= c->out_len) {
      struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
      epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    }
  }
  if (c->fd < 0 || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  if (!c->waiting) {
    /* Bytes nobody asked for (between requests, at a fixed rate): not an answer; a close still counts. */
    char scratch[4096];
    ssize_t n = read(c->fd, scratch, sizeof scratch);
    if (n == 0) on_end(c);
    else if (n < 0 && errno != EAGAIN && errno != EINTR) on_error(c, strerror(errno));
    return;
  }
  if (c->in_room - c->in_len < 4096) {
    c->in_room *= 2;
    c->in = realloc(c->in, c->in_room);
    if (!c->in) abort();
  }
  ssize_t n = read(c->fd, c->in + c->in_len, c->in_room - c->in_len);
  if (n > 0) {
    c->in_len += (size_t)n;
    parse(c);
  } else if (n == 0) {
    on_end(c);
  } else if (errno != EAGAIN && errno != EINTR) {
    on_error(c, strerror(errno));
  }
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = malloc((size_t)size + 1);
  if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
    fclose(f);
    return NULL;
  }
  fclose(f);
  text[size] = 0;
  *len = (size_t)size;
  return text;
}

static peer_t *parse_peers(char *text, size_t *count) {
  size_t lines = 0;
  for (char *p = text; *p; p++)
    if (*p == '\n') lines++;
  peer_t *peers = calloc(lines ? lines : 1, sizeof(peer_t));
  size_t n = 0;
  char *line = text;
  while (n < lines) {
    char *nl = strchr(line, '\n');
    *nl = 0;
    char *fields[4];
    char *cur = line;
    for (int i = 0; i < 4; i++) {
      fields[i] = cur;
      char *tab = strchr(cur, '\t');
      if (tab) {
        *tab = 0;
        cur = tab + 1;
      } else {
        cur = cur + strlen(cur);
      }
    }
    peer_t *p = &peers[n++];
    p->prefix = fields[0];
    p->prefix_len = strlen(fields[0]);
    size_t scrape_line = strlen(fields[1]);
    p->scrape_len = scrape_line + tail_scrape_len;
    p->scrape = malloc(p->scrape_len);
    memcpy(p->scrape, fields[1], scrape_line);
    memcpy(p->scrape + scrape_line, TAIL_SCRAPE, tail_scrape_len);
    p->size = strtoll(fields[2], NULL, 10);
    p->left = strtoll(fields[3], NULL, 10);
    if (p->prefix_len > REQUEST_ROOM - 200) {
      fprintf(stderr, "loadgen-native: an announce prefix of %zu bytes is too long\n", p->prefix_len);
      exit(2);
    }
    line = nl + 1;
  }
  *count = n;
  return peers;
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

static double rounded(double ms) { return floor(ms * 1000 + 0.5) / 1000; }

static double quantile(const float *sorted, size_t n, double q) {
  if (n == 0) return 0;
  size_t i = (size_t)floor(q * (double)n);
  return sorted[i < n - 1 ? i : n - 1];
}

static void print_json_string(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      printf("\\%c", *p);
    else if (*p < 0x20 || *p >= 0x7f)
      printf("\\u%04x", *p);
    else
      putchar(*p);
  }
  putchar('"');
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 10 && argc != 11) {
    fprintf(stderr, "usage: %s HOST PORT CONNECTIONS WARMUP_S DURATION_S SCRAPE_SHARE RATE SEED PEERS_FILE [HEADER]\n", argv[0]);
    return 2;
  }
  const char *header = argc == 11 ? argv[10] : "";
  if (strlen(header) > 128 || strpbrk(header, "\r\n") != NULL) {
    fprintf(stderr, "loadgen-native: HEADER must be one line of at most 128 bytes\n");
    return 2;
  }
  const char *extra = *header ? "\r\n" : "";
  tail_len = (size_t)snprintf(TAIL, sizeof TAIL, "&numwant=50&compact=1 HTTP/1.1\r\nHost: bench\r\n%s%sConnection: keep-alive\r\n\r\n", header, extra);
  tail_scrape_len = (size_t)snprintf(TAIL_SCRAPE, sizeof TAIL_SCRAPE, " HTTP/1.1\r\nHost: bench\r\n%s%sConnection: keep-alive\r\n\r\n", header, extra);
  /* A write to a connection the server reset is an error to count, not a reason to die. */
  signal(SIGPIPE, SIG_IGN);
  opt.host = argv[1];
  opt.port = atoi(argv[2]);
  opt.connections = atoi(argv[3]);
  opt.warmup_s = atof(argv[4]);
  opt.duration_s = atof(argv[5]);
  opt.scrape_share = atof(argv[6]);
  opt.rate = atof(argv[7]);
  rng_state = (uint32_t)strtoul(argv[8], NULL, 10);
  if (opt.connections < 1 || opt.duration_s <= 0) {
    fprintf(stderr, "loadgen-native: CONNECTIONS must be at least 1 and DURATION_S above 0\n");
    return 2;
  }

  if (strncmp(opt.host, "unix:", 5) == 0) {
    struct sockaddr_un *un = (struct sockaddr_un *)&opt.addr;
    const char *path = opt.host + 5;
    if (strlen(path) >= sizeof un->sun_path) {
      fprintf(stderr, "loadgen-native: %s: path too long\n", path);
      return 2;
    }
    un->sun_family = AF_UNIX;
    strcpy(un->sun_path, path);
    opt.addr_len = (socklen_t)sizeof *un;
  } else {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *found;
    char port[16];
    snprintf(port, sizeof port, "%d", opt.port);
    int gai = getaddrinfo(opt.host, port, &hints, &found);
    if (gai != 0) {
      fprintf(stderr, "loadgen-native: %s: %s\n", opt.host, gai_strerror(gai));
      return 2;
    }
    memcpy(&opt.addr, found->ai_addr, found->ai_addrlen);
    opt.addr_len = found->ai_addrlen;
    freeaddrinfo(found);
  }

  size_t text_len, peer_count;
  char *text = read_file(argv[9], &text_len);
  if (!text) {
    fprintf(stderr, "loadgen-native: cannot read %s: %s\n", argv[9], strerror(errno));
    return 2;
  }
  peer_t *peers = parse_peers(text, &peer_count);
  if (peer_count < (size_t)opt.connections) {
    fprintf(stderr, "loadgen-native: %zu peers for %d connections: each connection needs one\n", peer_count, opt.connections);
    return 2;
  }

  epfd = epoll_create1(EPOLL_CLOEXEC);
  double start = now_ms();
  warmup_end = start + opt.warmup_s * 1000;
  end_at = warmup_end + opt.duration_s * 1000;
  every_ms = opt.rate > 0 ? opt.connections * 1000.0 / opt.rate : 0;
  seconds_room = (size_t)ceil(opt.duration_s) + 2;
  per_second = calloc(seconds_room, sizeof(series_t));

  conn_t *conns = calloc((size_t)opt.connections, sizeof(conn_t));
  for (int i = 0; i < opt.connections; i++) {
    conn_t *c = &conns[i];
    c->fd = -1;
    c->own = malloc(sizeof(peer_t *) * (peer_count / (size_t)opt.connections + 1));
    for (size_t j = (size_t)i; j < peer_count; j += (size_t)opt.connections) c->own[c->own_count++] = &peers[j];
    c->in_room = READ_ROOM;
    c->in = malloc(c->in_room);
    c->due = start + every_ms * i / opt.connections;
    c->header_end = -1;
    c->expected_length = -1;
  }
  active = opt.connections;
  for (int i = 0; i < opt.connections; i++) open_conn(&conns[i]);

  int marked = 0;
  double cpu_from = 0, mark_at = 0, waited = 0; /* waited: ms in epoll_wait since the mark */
  struct epoll_event events[256];
  while (active > 0) {
    double now = now_ms();
    if (!marked && now >= warmup_end) {
      marked = 1;
      cpu_from = cpu_seconds();
      mark_at = now;
    }
    if (now > end_at + 30000) {
      /* A server that stopped answering: the requests in flight are errors, and the run ends. */
      for (int i = 0; i < opt.connections; i++)
        if (!conns[i].finished) {
          if (conns[i].waiting) errors++;
          finish(&conns[i]);
        }
      fail_note("no answer 30 s after the end", 28);
      break;
    }
    double next = end_at + 30000;
    for (int i = 0; i < opt.connections; i++) {
      conn_t *c = &conns[i];
      if (c->timer_at > 0 && c->timer_at <= now)
        send_next(c);
      if (c->timer_at > 0 && c->timer_at < next) next = c->timer_at;
    }
    if (!marked && warmup_end < next) next = warmup_end;
    if (active == 0) break;
    int timeout = (int)ceil(next - now);
    if (timeout < 0) timeout = 0;
    if (timeout > 100) timeout = 100;
    double before = now_ms();
    int n = epoll_wait(epfd, events, 256, timeout);
    if (marked) waited += now_ms() - before;
    for (int i = 0; i < n; i++) on_event(events[i].data.ptr, events[i].events);
  }
  double cpu = marked ? cpu_seconds() - cpu_from : cpu_seconds();
  double elapsed = marked ? now_ms() - mark_at : now_ms() - start;
  double utilization = elapsed > 0 ? (elapsed - waited) / elapsed : 0;

  size_t total = 0;
  for (size_t s = 0; s < seconds_room; s++) total += per_second[s].n;
  float *all = malloc((total ? total : 1) * sizeof(float));
  size_t at = 0;
  printf("{\"requests\":%ld,\"allRequests\":%ld,\"seconds\":%g,\"perSecond\":%ld,", requests, all_requests, opt.duration_s,
         (long)floor(requests / opt.duration_s + 0.5));
  printf("\"perSecondSeries\":[");
  int first = 1;
  for (size_t s = 0; s < seconds_room; s++) {
    series_t *ser = &per_second[s];
    if (ser->n == 0) continue;
    memcpy(all + at, ser->v, ser->n * sizeof(float));
    at += ser->n;
    qsort(ser->v, ser->n, sizeof(float), cmp_float);
    printf("%s{\"t\":%zu,\"count\":%zu,\"p99Ms\":%.3f,\"maxMs\":%.3f}", first ? "" : ",", s, ser->n,
           rounded(quantile(ser->v, ser->n, 0.99)), rounded(ser->v[ser->n - 1]));
    first = 0;
  }
  printf("],");
  qsort(all, total, sizeof(float), cmp_float);
  printf("\"latencyMs\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},", rounded(quantile(all, total, 0.5)),
         rounded(quantile(all, total, 0.9)), rounded(quantile(all, total, 0.99)), rounded(total ? all[total - 1] : 0));
  printf("\"failures\":%ld,\"errors\":%ld,\"connectsPerRequest\":%.3f,", failures, errors,
         requests > 0 ? floor((double)connects / requests * 1000 + 0.5) / 1000 : 0.0);
  if (has_first_failure) {
    printf("\"firstFailure\":");
    print_json_string(first_failure);
    putchar(',');
  }
  printf("\"responseBytes\":%ld,", requests > 0 ? (long)floor((double)response_bytes / requests + 0.5) : 0L);
  printf("\"generator\":{\"cpuSeconds\":%.2f,\"loopUtilization\":%.3f,\"kind\":\"native\"}}\n", cpu, utilization);
  return 0;
}
