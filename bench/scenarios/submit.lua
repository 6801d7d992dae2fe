-- A score of 1..10000 for a random player.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

request = submit_request
