// Command countproxy forwards TCP connections from LISTEN to TARGET and
// counts the bytes TARGET sends back: overhead.sh puts it between an agent
// and the store to measure what the agent reads from the store. It prints
// the count on SIGUSR1, and at SIGTERM before it exits.
//
//	countproxy LISTEN TARGET
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: countproxy LISTEN TARGET (host:port each)")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "countproxy: listen on %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	var down atomic.Int64
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGTERM)
	go func() {
		for s := range sig {
			fmt.Println(down.Load())
			if s == syscall.SIGTERM {
				os.Exit(0)
			}
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "countproxy: accept: %v\n", err)
			os.Exit(1)
		}
		go forward(c, os.Args[2], &down)
	}
}

// forward copies c to target and target back to c, counting the latter as
// it goes (connections to the store live long).
func forward(c net.Conn, target string, down *atomic.Int64) {
	defer c.Close()
	s, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer s.Close()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if _, err := s.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				s.Close()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			down.Add(int64(n))
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
