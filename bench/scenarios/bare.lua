-- The baseline: a bare DRF APIView of the same settings under the same gunicorn, with no middleware.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

function request()
  return wrk.format("GET", "/bare")
end
