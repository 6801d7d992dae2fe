-- Shared by every scenario: random players, per-thread status counts, and a JSON report from done().
-- Settings come from the environment: BENCH_MIN_ID/BENCH_MAX_ID (player ids to draw from),
-- BENCH_SKIP_IDS (a file of ids to never draw: players without a rank), BENCH_API_KEY, and
-- BENCH_GAME_MODE (the game mode of submits; empty: the API's default) and BENCH_BATCH_SIZE;
-- BENCH_BOARD (a board's slug) and BENCH_IDS_FILE (a file of the ids to draw from: players on that board).

local threads = {}

-- As a TLS-terminating proxy in front of the app would say (the app runs with BEHIND_TLS_PROXY=true).
wrk.headers["X-Forwarded-Proto"] = "https"

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  min_id = tonumber(os.getenv("BENCH_MIN_ID") or "1")
  max_id = tonumber(os.getenv("BENCH_MAX_ID") or "1")
  api_key = os.getenv("BENCH_API_KEY") or ""
  game_mode = os.getenv("BENCH_GAME_MODE") or ""
  batch_size = tonumber(os.getenv("BENCH_BATCH_SIZE") or "100")
  board = os.getenv("BENCH_BOARD") or "global"
  ids = {}
  local ids_file = os.getenv("BENCH_IDS_FILE") or ""
  if ids_file ~= "" then
    for line in io.lines(ids_file) do
      table.insert(ids, tonumber(line))
    end
  end
  skip = {}
  local skip_file = os.getenv("BENCH_SKIP_IDS") or ""
  if skip_file ~= "" then
    for line in io.lines(skip_file) do
      skip[tonumber(line)] = true
    end
  end
  math.randomseed(os.time() * 1000 + thread_number)
  statuses = {}
end

function random_player()
  if #ids > 0 then
    return ids[math.random(1, #ids)]
  end
  local id = math.random(min_id, max_id)
  while skip[id] do
    id = math.random(min_id, max_id)
  end
  return id
end

function rank_request()
  return wrk.format("GET", "/api/leaderboard/rank/" .. random_player())
end

function board_rank_request()
  return wrk.format("GET", "/api/v1/boards/" .. board .. "/players/" .. random_player())
end

function board_around_request()
  return wrk.format("GET", "/api/v1/boards/" .. board .. "/players/" .. random_player() .. "/around?k=5")
end

function top_request()
  return wrk.format("GET", "/api/leaderboard/top?limit=10")
end

local function json_headers()
  -- wrk.format uses either its headers argument or wrk.headers: start from the latter.
  local headers = { ["Content-Type"] = "application/json" }
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  if api_key ~= "" then
    headers["Authorization"] = "Api-Key " .. api_key
  end
  return headers
end

local function session_json()
  local mode = ""
  if game_mode ~= "" then
    mode = string.format(', "game_mode": "%s"', game_mode)
  end
  return string.format('{"user_id": %d, "score": %d%s}', math.random(min_id, max_id), math.random(1, 10000), mode)
end

function submit_request()
  return wrk.format("POST", "/api/leaderboard/submit", json_headers(), session_json())
end

function batch_request()
  local sessions = {}
  for i = 1, batch_size do
    sessions[i] = session_json()
  end
  local body = '{"sessions": [' .. table.concat(sessions, ", ") .. "]}"
  return wrk.format("POST", "/api/v1/sessions/batch", json_headers(), body)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local seen = thread:get("statuses") or {}
    for status, n in pairs(seen) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local status_json = {}
  for status, n in pairs(counts) do
    table.insert(status_json, string.format('"%s": %d', status, n))
  end
  local percentiles = {}
  for _, p in ipairs({ 50, 75, 90, 95, 99, 99.9 }) do
    table.insert(percentiles, string.format('"%s": %d', tostring(p), latency:percentile(p)))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, "status_errors": %d, ' ..
    '"statuses": {%s}, "latency_us": {"min": %d, "max": %d, "mean": %.1f, "stdev": %.1f, ' ..
    '"percentiles": {%s}}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    table.concat(status_json, ", "),
    latency.min, latency.max, latency.mean, latency.stdev,
    table.concat(percentiles, ", ")))
end
