-- The top 10 listing.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

request = top_request
