# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# KVCachePolicy share: a busy best match loses to idle members; maxmatch
# (Pixiu's policy) ignores the load.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use POSIX ();
use Time::HiRes qw(sleep time);
use lib 't/lib';
use KVCache::Test;

plan tests => 8;

my $loc = 'LocalCPUBackend';
my $held = 3;

emu_reset();
# vllm-a holds 80% of every prompt and answers slowly, so requests sent to it
# stay in flight (mod_proxy_balancer counts them as busy).
emu_config(lookup_override => { layout_info => {
    'vllm-a' => [$loc, 80], 'vllm-b' => [$loc, 40] } });
emu_instance(id => 'vllm-a', delay_ms => 4000);

# Pure max-match sends the held requests to vllm-a.
my @pids;
for (1 .. $held) {
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        my $res = post_llm('/maxmatch/v1/completions',
                           completion_body(prompt => unique_words(99)));
        POSIX::_exit(served_by($res) eq 'vllm-a' ? 0 : 1);
    }
    push @pids, $pid;
}
# Wait until all of them are inside vllm-a.
sub running_on_a { emu_stats()->{instances}->{'vllm-a'}->{running} }
my $deadline = time + 3;
sleep 0.05 while time < $deadline && running_on_a() < $held;
ok t_cmp(running_on_a(), $held, "$held slow requests in flight on vllm-a");

# Load-aware: vllm-a's 0.8 hit is outweighed by its load
# (busy 3 vs mean 1: load term 2.0); vllm-b (0.4 hit, idle) wins.
my $res = post_llm('/share/v1/completions',
                   completion_body(prompt => unique_words(99)));
ok t_cmp(decision_of($res), 'routed', 'load-aware: routed');
ok t_cmp(served_by($res), 'vllm-b', 'load-aware: the busy best match loses');
ok t_cmp($res->header('X-KVCache-Matched'), 40,
         'KVCACHE_MATCHED_TOKENS is the chosen member\'s match');

# Pure max-match ignores the load.
my $t0 = time;
$res = post_llm('/maxmatch/v1/completions',
                completion_body(prompt => unique_words(99)));
ok t_cmp(served_by($res), 'vllm-a', 'maxmatch: best match regardless');
ok t_cmp($res->header('X-KVCache-Matched'), 80, 'maxmatch: its match');

my $ok = 0;
for my $pid (@pids) {
    waitpid $pid, 0;
    $ok++ if $? == 0;
}
ok t_cmp($ok, $held, 'held requests all served by vllm-a');
emu_instance(id => 'vllm-a', delay_ms => undef);

# Idle again: the best match wins under the share score too.
$res = post_llm('/share/v1/completions',
                completion_body(prompt => unique_words(99)));
ok t_cmp(served_by($res), 'vllm-a', 'idle cluster: best match wins');
