-- Around-me (5 above, 5 below) of a random player of the current period of BENCH_BOARD.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

request = board_around_request
