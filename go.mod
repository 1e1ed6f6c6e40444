module github.com/tlgo/tl

go 1.26
