-- Rank of a random ranked player.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

request = rank_request
