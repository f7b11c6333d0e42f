# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Cache management through the LMCache API as it really is, never slowing
# a client: /pin once per hot key per window (counts shared by all
# children), /compress under measured load and /clear under measured
# memory pressure, each rate-limited per instance; a hung controller costs
# clients nothing; Pixiu's async tokenize; a graceful restart under
# traffic fails no request.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use LWP::UserAgent ();
use POSIX ();
use Time::HiRes qw(sleep time);
use lib 't/lib';
use KVCache::Test;
use KVCache::Server;

plan tests => 34;

my $server = KVCache::Server->new(
    name => 'manage', port => Apache::Test::vars('aux1_port'),
    conf => <<'CONF')->start;
KVCacheHotWindow 3s
KVCacheHotMaxKeys 4
KVCacheScrapeInterval 1s
KVCacheActionInterval 30s
KVCacheInstanceCapacity 10
KVCacheRetry 1 10ms 10ms
<Location "/pin/v1/">
    ProxyPass "balancer://llm/v1/"
    KVCacheEnable On
    KVCachePinning On
    KVCacheHotThreshold 3
    KVCachePin auto LocalCPUBackend
</Location>
<Location "/load/v1/">
    ProxyPass "balancer://llm/v1/"
    KVCacheEnable On
    KVCacheCompression On
    KVCacheLoadThreshold 0.5
    KVCacheCompress auto LocalCPUBackend
    KVCacheEviction On
    KVCacheMemoryThreshold 0.85
    KVCacheEvict vllm-c LocalCPUBackend
</Location>
<Location "/async/v1/">
    ProxyPass "balancer://llm/v1/"
    KVCacheEnable On
    KVCacheTokenize async
</Location>
<Location "/asyncpin/v1/">
    ProxyPass "balancer://llm/v1/"
    KVCacheEnable On
    KVCacheTokenize async
    KVCachePinning On
    KVCacheHotThreshold 2
    KVCachePin auto LocalCPUBackend
</Location>
<Location "/kvcache-status">
    SetHandler kvcache-status
</Location>
CONF
my @ua = ($server->client, $server->client);
my $n = 0;

sub send_to {
    my ($path, $body) = @_;
    my ($res) = $server->post($ua[$n++ % 2], $path, $body);
    return $res;
}
sub calls_to {
    my ($path) = @_;
    return grep { $_->{role} eq 'controller' && $_->{path} eq $path }
           @{ emu_stats()->{log} };
}
# Background calls: wait (a little) until $count have arrived.
sub wait_calls {
    my ($path, $count, $seconds) = @_;
    my $deadline = time + ($seconds // 3);
    sleep 0.05 while scalar(calls_to($path)) < $count && time < $deadline;
    return calls_to($path);
}
sub status { kv_json()->decode($server->get('/kvcache-status')->content) }
# Waits for a scrape, then sends $n new prompts to /load/.
sub after_scrape_load {
    my ($n) = @_;
    sleep 1.5;
    send_to('/load/v1/chat/completions', chat_body(content => unique_words(20)))
        for 1 .. $n;
}
# vllm-c's /metrics answers $text until the faults are cleared.
sub metrics_of_c {
    emu_fault(role => 'vllm-c', path => '/metrics', status => 200,
              body => shift);
}

# Pinning: the prompt lives on vllm-b; the third request within the window,
# whichever child serves it, sends exactly one /pin to vllm-b.
emu_reset();
my %hot = (model => 'demo-model', messages => [
    { role => 'user', content => unique_words(300) } ]);
my $hot = kv_json()->encode(\%hot);
emu_seed(instance => 'vllm-b', body => \%hot);
send_to('/pin/v1/chat/completions', $hot) for 1 .. 2;
sleep 0.3;
ok t_cmp(scalar(calls_to('/pin')), 0, 'two requests: not hot yet');
send_to('/pin/v1/chat/completions', $hot) for 1 .. 3;
my @pins = wait_calls('/pin', 1);
sleep 0.3;
@pins = calls_to('/pin');
ok t_cmp(scalar(@pins), 1, 'five requests over two children: one /pin');
my $pin = $pins[0]{body};
ok t_cmp($pin->{instance_id}, 'vllm-b', '/pin goes to the holder');
ok t_cmp($pin->{location}, 'LocalCPUBackend', '... at the location');
my $expected = emu_tokenize(\%hot);
ok t_cmp(join(',', @{ $pin->{tokens} }), join(',', @$expected),
         '... with the prompt\'s tokens');
ok t_cmp(emu_stats()->{instances}{'vllm-b'}{pinned_chunks} > 0 ? 1 : 0, 1,
         'the emulator pinned the prefix');

# A new window: hot again, pinned again.
sleep 3.2;
send_to('/pin/v1/chat/completions', $hot) for 1 .. 3;
@pins = wait_calls('/pin', 2);
ok t_cmp(scalar(@pins), 2, 'next window: pinned once more');

# Counts expire with the window.
my $cold = chat_body(content => unique_words(50));
send_to('/pin/v1/chat/completions', $cold) for 1 .. 2;
sleep 3.2;
send_to('/pin/v1/chat/completions', $cold) for 1 .. 2;
sleep 0.3;
ok t_cmp(scalar(calls_to('/pin')), 2, 'counts older than the window expire');

# The table never grows past KVCacheHotMaxKeys.
send_to('/pin/v1/chat/completions', chat_body(content => unique_words(20)))
    for 1 .. 8;
ok t_cmp(status()->{hot_keys}, 4, 'hot keys bounded by KVCacheHotMaxKeys');

# Compression under load: vllm-b serves 8 of its 10 slots (0.8 >= 0.5).
emu_reset();
emu_config(lookup_override => { layout_info => {
    'vllm-b' => ['LocalCPUBackend', 64] } });
emu_instance(id => 'vllm-b', running => 8);
emu_instance(id => 'vllm-c', kv_cache_usage => 0.5);
after_scrape_load(4);
my @compress = wait_calls('/compress', 1);
sleep 0.3;
@compress = calls_to('/compress');
ok t_cmp(scalar(@compress), 1, 'loaded instance: one /compress (rate-limited)');
ok t_cmp($compress[0]{body}{instance_id}, 'vllm-b', '... to the holder');
ok t_cmp($compress[0]{body}{method}, 'cachegen', '... method cachegen');
ok t_cmp(scalar(@{ $compress[0]{body}{tokens} }) > 20 ? 1 : 0, 1,
         '... with the tokens');
ok t_cmp(scalar(calls_to('/clear')), 0, 'memory below threshold: no /clear');

# Two engines behind vllm-c, each 60% full: the instance is 60% full, not
# 120%, so below KVCacheMemoryThreshold.
metrics_of_c("vllm:kv_cache_usage_perc{engine=\"0\"} 0.6\n"
             . "vllm:kv_cache_usage_perc{engine=\"1\"} 0.6\n");
after_scrape_load(4);
sleep 0.5;
ok t_cmp(scalar(calls_to('/clear')), 0, 'two engines 60% full: no /clear');
emu('/_emu/clear_faults', {});

# Memory pressure on vllm-c: one /clear of the whole location.
emu_instance(id => 'vllm-c', kv_cache_usage => 0.9);
after_scrape_load(4);
my @clears = wait_calls('/clear', 1);
sleep 0.3;
@clears = calls_to('/clear');
ok t_cmp(scalar(@clears), 1, 'memory pressure: one /clear (rate-limited)');
ok t_cmp($clears[0]{body}{instance_id}, 'vllm-c', '... of the instance');
ok t_cmp($clears[0]{body}{location}, 'LocalCPUBackend', '... location');
ok t_cmp(scalar(calls_to('/evict')), 0, 'never the non-existent /evict');

# Below the threshold nothing is sent (new server state: rate limits reset
# only with a new server, so check a lightly loaded instance instead).
emu_instance(id => 'vllm-b', running => 1);
emu_config(lookup_override => { layout_info => {
    'vllm-a' => ['LocalCPUBackend', 64] } });
emu_instance(id => 'vllm-a', running => 2);
after_scrape_load(3);
sleep 0.5;
ok t_cmp(scalar(calls_to('/compress')), 1, 'load 0.2 < 0.5: no /compress');

# A hostile /metrics answer: a negative gauge is ignored, not subtracted
# (8 running and -8 waiting of 10 slots is a load of 0.8, not 0).
metrics_of_c("vllm:kv_cache_usage_perc 0.1\n"
             . "vllm:num_requests_running 8\n"
             . "vllm:num_requests_waiting -8\n");
emu_config(lookup_override => { layout_info => {
    'vllm-c' => ['LocalCPUBackend', 64] } });
after_scrape_load(3);
wait_calls('/compress', 2);
my @hostile = grep { $_->{body}{instance_id} eq 'vllm-c' } calls_to('/compress');
ok t_cmp(scalar(@hostile), 1, 'negative waiting ignored: vllm-c compressed');
emu('/_emu/clear_faults', {});

# A hung controller during actions: clients do not notice.
emu_reset();
emu_fault(role => 'controller', path => '/pin', delay_ms => 5000);
emu_seed(instance => 'vllm-b', body => \%hot);
my $slowest = 0;
for (1 .. 8) {
    my $t0 = time;
    send_to('/pin/v1/chat/completions', chat_body(content => unique_words(5)));
    send_to('/pin/v1/chat/completions', $hot);
    my $took = time - $t0;
    $slowest = $took if $took > $slowest;
}
ok t_cmp($slowest < 1.0 ? 1 : 0, 1,
         "hung /pin never delays a client (slowest pair ${slowest}s)");
emu('/_emu/clear_faults', {});

# Async tokenize (Pixiu's timing): the first request is forwarded at once
# and tokenized in the background; the next identical one is routed.
emu_reset();
my %conv = (model => 'demo-model', messages => [
    { role => 'user', content => unique_words(300) } ]);
emu_seed(instance => 'vllm-c', body => \%conv);
my $body = kv_json()->encode(\%conv);
my $res = send_to('/async/v1/chat/completions', $body);
ok t_cmp(KVCache::Test::decision_of($res), 'fallback:tokenize-pending',
         'async: first request not routed');
my $deadline = time + 3;
sleep 0.05 while emu_calls('vllm-a', '/tokenize') < 1 && time < $deadline;
ok t_cmp(emu_calls('vllm-a', '/tokenize'), 1, 'async: tokenized behind it');
sleep 0.2;
$res = send_to('/async/v1/chat/completions', $body);
ok t_cmp(KVCache::Test::decision_of($res), 'routed',
         'async: the next identical request is routed');
ok t_cmp(served_by($res), 'vllm-c', '... to the holder');

# Async and pinning: as Pixiu's background job, the tokenizing job looks
# the prompt up and counts it, so the second request of a prompt with
# threshold 2 pins it, as Pixiu would.
emu_reset();
%conv = (model => 'demo-model', messages => [
    { role => 'user', content => unique_words(300) } ]);
emu_seed(instance => 'vllm-b', body => \%conv);
$body = kv_json()->encode(\%conv);
send_to('/asyncpin/v1/chat/completions', $body);
$deadline = time + 3;
sleep 0.05 while emu_calls('controller', '/lookup') < 1 && time < $deadline;
ok t_cmp(emu_calls('controller', '/lookup'), 1,
         'async: the background job looked the prompt up');
sleep 0.2;
ok t_cmp(scalar(calls_to('/pin')), 0, 'async: one request is not hot');
send_to('/asyncpin/v1/chat/completions', $body);
my @async_pins = wait_calls('/pin', 1);
ok t_cmp(join(',', map { $_->{body}{instance_id} } @async_pins), 'vllm-b',
         'async: the second request pins the prompt at its holder');

# Graceful restarts under traffic: no failed request.
emu_reset();
@ua = ();
my @kids;
for my $k (1 .. 2) {
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        # A connection per request: an idle keep-alive connection closed
        # by a restarting child is a client-side race, not what is tested.
        my ($bad, $ua) = (0, LWP::UserAgent->new(keep_alive => 0));
        my $end = time + 4;
        while (time < $end) {
            my ($r) = $server->post($ua, '/v1/chat/completions',
                                    chat_body(content => unique_words(10)));
            $bad++ if $r->code != 200;
        }
        POSIX::_exit($bad > 255 ? 255 : $bad);
    }
    push @kids, $pid;
}
sleep 1;
ok t_cmp($server->graceful, 1, 'first graceful restart');
sleep 1;
ok t_cmp($server->graceful, 1, 'second graceful restart');
my $failed = 0;
for my $pid (@kids) {
    waitpid $pid, 0;
    $failed += $? >> 8;
}
ok t_cmp($failed, 0, 'no failed request during graceful restarts');
my $served = emu_stats()->{calls}{'vllm-a:/tokenize'} // 0;
ok t_cmp($served > 10 ? 1 : 0, 1, "traffic flowed ($served tokenized)");
# However slowly a loaded machine brought the new generation up, the
# request sent now is its own.
$server->post(LWP::UserAgent->new(keep_alive => 0), '/v1/chat/completions',
              chat_body(content => unique_words(10)));
ok t_cmp(status()->{requests}{seen} > 0 ? 1 : 0, 1,
         'the new generation counts and serves status');
$server->stop;
