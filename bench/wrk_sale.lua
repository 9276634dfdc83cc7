-- wrk script for bench/bench_web.sh: each request sells the next 10 released codes of
-- SALE_TOKENS (one token a line) to one buyer; the threads take turns through the list.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  thread:set("nthreads", 0)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local all = {}
  for line in io.lines(os.getenv("SALE_TOKENS")) do
    table.insert(all, line)
  end
  mine = {}
  local size = 10
  local n = tonumber(os.getenv("WRK_THREADS"))
  local chunk = 0
  for i = 1, #all - size + 1, size do
    if chunk % n == id then
      table.insert(mine, '"' .. table.concat(all, '", "', i, i + size - 1) .. '"')
    end
    chunk = chunk + 1
  end
  next_sale = 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local codes = mine[next_sale] or mine[#mine]  -- past the end: a refused repeat (counted as non-2xx)
  next_sale = next_sale + 1
  local body = '{"codes": [' .. codes .. '], "buyer_name": "张三", "buyer_phone": "13800138000", "buyer_kind": "consumer"}'
  return wrk.format(nil, nil, nil, body)
end
