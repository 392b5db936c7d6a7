module gonb/bench/go

go 1.19
