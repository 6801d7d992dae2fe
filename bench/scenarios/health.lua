-- The app's own liveness check: a trivial endpoint through the same server and middleware.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

function request()
  return wrk.format("GET", "/healthz")
end
