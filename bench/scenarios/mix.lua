-- 70% rank, 20% top, 10% submit.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

function request()
  local r = math.random()
  if r < 0.7 then
    return rank_request()
  elseif r < 0.9 then
    return top_request()
  end
  return submit_request()
end
