# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Circuit breakers shared by all child processes: failures in two children
# open the lookup breaker for both; while open no call is made and requests
# are still served; after RECOVERY exactly HALF_OPEN_CALLS probes go out; a
# successful probe closes it.  A hung controller costs the lookup budget
# until the breaker opens, then nothing.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use POSIX ();
use Time::HiRes qw(sleep time);
use lib 't/lib';
use KVCache::Test;
use KVCache::Server;

plan tests => 32;

my $server = KVCache::Server->new(
    name => 'breaker', port => Apache::Test::vars('aux1_port'),
    conf => <<'CONF')->start;
KVCacheCircuitBreaker 4 2s 2
KVCacheRetry 1 10ms 10ms
KVCacheLookupTimeout 600ms
CONF
my $chat = '/v1/chat/completions';

sub lookups { emu_calls('controller', '/lookup') }

emu_reset();
my @ua = ($server->client, $server->client);
my %warm_pids;
for my $ua (@ua) {
    my ($res, $seq) = $server->post($ua, $chat,
                                    chat_body(content => unique_words(9)));
    $warm_pids{$server->pid_of($seq)} = 1;
}
ok t_cmp(scalar(keys %warm_pids), 2, 'two connections, two child processes');

# Four consecutive failures, alternating between the two children.
emu_fault(role => 'controller', path => '/lookup', status => 500);
my %fail_pids;
for my $i (0 .. 3) {
    my ($res, $seq) = $server->post($ua[$i % 2], $chat,
                                    chat_body(content => unique_words(9)));
    ok t_cmp(KVCache::Test::decision_of($res), 'fallback:lookup-error',
             "failure $i is a lookup error");
    $fail_pids{$server->pid_of($seq)} = 1;
}
ok t_cmp(scalar(keys %fail_pids), 2, 'the failures came from two children');
my $calls = lookups();
ok t_cmp($calls, 2 + 4, 'one lookup call per request so far');

# Open for every child: no call, still served.
for my $i (0 .. 3) {
    my ($res) = $server->post($ua[$i % 2], $chat,
                              chat_body(content => unique_words(9)));
    ok t_cmp($res->code, 200, "open breaker: request $i served");
    ok t_cmp(KVCache::Test::decision_of($res), 'fallback:lookup-breaker-open',
             "open breaker: request $i not routed");
}
ok t_cmp(lookups(), $calls, 'no lookup call while the breaker is open');
ok t_cmp($server->error_log =~ /lookup circuit breaker opened/ ? 1 : 0, 1,
         'the opening is logged');

# Half-open: exactly two probes, even with three requests at once.  The
# probes fail slowly (but within the 600ms budget, so the controller has
# counted them when they return), so the requests overlap.
@ua = ();
emu('/_emu/clear_faults', {});
emu_fault(role => 'controller', path => '/lookup', status => 500,
          delay_ms => 200);
sleep 2.2;
my @kids;
for (1 .. 3) {
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        my ($res) = $server->post($server->client, $chat,
                                  chat_body(content => unique_words(9)));
        my $d = KVCache::Test::decision_of($res);
        POSIX::_exit($d eq 'fallback:lookup-error' ? 10
                     : $d eq 'fallback:lookup-breaker-open' ? 11 : 12);
    }
    push @kids, $pid;
}
my %outcomes;
for my $pid (@kids) {
    waitpid $pid, 0;
    $outcomes{$? >> 8}++;
}
ok t_cmp($outcomes{10} // 0, 2, 'two probes went out (and failed)');
ok t_cmp($outcomes{11} // 0, 1, 'the third request was refused at once');
ok t_cmp(lookups(), $calls + 2, 'exactly HALF_OPEN_CALLS lookup calls');

# Failed probes reopen it.
my $ua = $server->client;
my ($res) = $server->post($ua, $chat, chat_body(content => unique_words(9)));
ok t_cmp(KVCache::Test::decision_of($res), 'fallback:lookup-breaker-open',
         'failed probes reopen the breaker');

# A successful probe closes it.
emu('/_emu/clear_faults', {});
sleep 2.2;
($res) = $server->post($ua, $chat, chat_body(content => unique_words(9)));
ok t_cmp(KVCache::Test::decision_of($res) =~ /breaker|error/ ? 0 : 1, 1,
         'the probe succeeds (' . KVCache::Test::decision_of($res) . ')');
($res) = $server->post($ua, $chat, chat_body(content => unique_words(9)));
ok t_cmp(KVCache::Test::decision_of($res) =~ /breaker|error/ ? 0 : 1, 1,
         'closed: calls go through again');
ok t_cmp(lookups(), $calls + 4, 'both calls reached the controller');
ok t_cmp($server->error_log =~ /lookup circuit breaker closed/ ? 1 : 0, 1,
         'the closing is logged');

# A hung controller costs the lookup budget (600ms here) per request...
emu_fault(role => 'controller', path => '/lookup', delay_ms => 5000);
my $slowest = 0;
for my $i (1 .. 4) {
    my $t0 = time;
    ($res) = $server->post($ua, $chat, chat_body(content => unique_words(9)));
    my $took = time - $t0;
    $slowest = $took if $took > $slowest;
    ok t_cmp(KVCache::Test::decision_of($res), 'fallback:lookup-timeout',
             "hung controller: request $i timed out (${took}s)");
}
ok t_cmp($slowest < 1.6 ? 1 : 0, 1,
         "never more than the budget plus backend time (${slowest}s)");
# ...until the breaker opens; then requests do not wait at all.
my $t0 = time;
($res) = $server->post($ua, $chat, chat_body(content => unique_words(9)));
my $took = time - $t0;
ok t_cmp(KVCache::Test::decision_of($res), 'fallback:lookup-breaker-open',
         'the breaker opened on timeouts');
ok t_cmp($took < 0.25 ? 1 : 0, 1,
         "open breaker: no wait for the lookup (${took}s)");
emu('/_emu/clear_faults', {});
$server->stop;
