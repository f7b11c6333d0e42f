# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Two httpd nodes, one Redis (KVCacheFleetStore): a prompt made hot through
# both nodes is pinned once per window, not once per node; a session's
# turns alternate between the nodes and stay on one engine; with Redis
# stopped no client request fails and each node decides on its own state
# (so each pins); with Redis back the nodes share again.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes qw(sleep time);
use lib 't/lib';
use KVCache::Test;
use KVCache::Server;

plan tests => 26;

my $vars = Apache::Test::vars();
my $port = $vars->{redis_port};
my $prefix = "tfleet$$";
my $redis;

sub start_redis {
    $redis = fork();
    die "fork: $!" unless defined $redis;
    if (!$redis) {
        open STDOUT, '>>', "$vars->{t_logs}/redis-fleet.out";
        open STDERR, '>&', \*STDOUT;
        exec '/usr/bin/redis-server', '--port', $port, '--bind', '127.0.0.1',
             '--save', '', '--appendonly', 'no', '--dir', $vars->{t_logs}
            or POSIX::_exit(127);
    }
    my $deadline = time + 10;
    sleep 0.05 until IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
                     || time > $deadline;
}
sub stop_redis {
    return unless $redis;
    kill 'TERM', $redis;
    waitpid $redis, 0;
    $redis = undef;
    my $deadline = time + 10;
    sleep 0.05 while IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
                     && time < $deadline;
}
END { stop_redis() }

# What the nodes wrote, read with Redis's own client.
sub redis_keys {
    my ($pattern) = @_;
    my @keys = grep { length } split /\n/,
        `redis-cli -p $port --scan --pattern '$prefix:$pattern' 2>/dev/null`;
    return scalar @keys;
}

start_redis();
my $conf = <<"CONF";
KVCacheFleetStore redis:127.0.0.1:$port/$prefix
KVCacheHotWindow 120s
# The session checks fail /lookup on purpose: that must not open the
# lookup breaker, which would stop the hot counting that follows.
KVCacheCircuitBreaker 1000 1s 1
KVCacheInstanceCapacity 10
KVCacheActionInterval 60s
<Location "/load/v1/">
    ProxyPass "balancer://llm/v1/"
    KVCacheEnable On
    KVCacheCompression On
    KVCacheLoadThreshold 0.5
    KVCacheCompress auto LocalCPUBackend
</Location>
<Location "/fleet/v1/">
    ProxyPass "balancer://llm/v1/"
    KVCacheEnable On
    KVCachePinning On
    KVCacheHotThreshold 3
    KVCachePin auto LocalCPUBackend
    KVCacheSessionHeader X-Session-Id
</Location>
<Location "/kvcache-status">
    SetHandler kvcache-status
</Location>
CONF
my @node = (
    KVCache::Server->new(name => 'fleet1', port => $vars->{aux1_port},
                         conf => $conf)->start,
    KVCache::Server->new(name => 'fleet2', port => $vars->{aux2_port},
                         conf => $conf)->start);
my @ua = map { $_->client } @node;
my $failed = 0;

# Through node $i (0 or 1); counts every answer that is not a 200.
sub via {
    my ($i, $body, @headers) = @_;
    my ($res) = $node[$i]->post($ua[$i], '/fleet/v1/chat/completions',
                                $body, @headers);
    $failed++ unless $res->code == 200;
    return $res;
}
sub pins {
    return scalar grep { $_->{role} eq 'controller' && $_->{path} eq '/pin' }
                  @{ emu_stats()->{log} };
}
# /pin is sent from a background queue: wait for $want, then a little
# longer, so that a second one would have been seen too.
sub settled_pins {
    my ($want) = @_;
    my $deadline = time + 5;
    sleep 0.05 while pins() < $want && time < $deadline;
    sleep 1;
    return pins();
}
# A prompt vllm-b holds, sent four times through each node, alternating:
# each node alone would reach the threshold (3) and pin.
sub make_hot {
    my %hot = (model => 'demo-model', messages => [
        { role => 'user', content => unique_words(300) } ]);
    emu_seed(instance => 'vllm-b', body => \%hot);
    my $body = kv_json()->encode(\%hot);
    via($_ % 2, $body) for 0 .. 7;
}
sub status {
    my ($i) = @_;
    return kv_json()->decode($node[$i]->get('/kvcache-status')->content);
}
# Alternates the turns of a new session between the nodes, the controller
# failing after the first turn so that only the session can keep them on
# the first turn's engine (vllm-c, which holds its prompt).
sub session_engines {
    my ($id, $wait_for_redis) = @_;
    my %conv = (model => 'demo-model', messages => [
        { role => 'user', content => unique_words(400) } ]);
    emu_seed(instance => 'vllm-c', body => \%conv);
    my @served = (served_by(via(0, kv_json()->encode(\%conv),
                                'X-Session-Id' => $id)));
    if ($wait_for_redis) {
        # The first node records the session off the request path.
        my $deadline = time + 5;
        sleep 0.05 until redis_keys('session:*') || time > $deadline;
    }
    emu_fault(role => 'controller', path => '/lookup', status => 500);
    for my $turn (1 .. 4) {
        push @{ $conv{messages} },
            { role => 'assistant', content => 'ok' },
            { role => 'user', content => unique_words(20) };
        push @served, served_by(via($turn % 2, kv_json()->encode(\%conv),
                                    'X-Session-Id' => $id));
    }
    my $control = served_by(via(1, kv_json()->encode(\%conv)));
    emu('/_emu/clear_faults', {});
    return (\@served, $control);
}

# 1. Shared: one pin for the fleet.
emu_reset();
make_hot();
ok t_cmp(settled_pins(1), 1,
         'hot through both nodes (4 + 4, threshold 3): pinned once');
ok t_cmp(redis_keys('pin:*'), 1, 'the pin claim lives in Redis');
ok t_cmp(redis_keys('hot:*'), 1, 'and so does the count');
my $st = status(0);
ok t_cmp($st->{upstreams}{fleet}{calls} > 0 ? 1 : 0, 1,
         'the fleet store calls are counted');
ok t_cmp($st->{upstreams}{fleet}{errors}, 0, '... without errors');

# 2. A session's turns alternate between the nodes, on one engine.
emu_reset();
my ($served, $control) = session_engines('agent-fleet-1', 1);
ok t_cmp($served->[0], 'vllm-c', 'session: first turn at the holder');
ok t_cmp(join(',', @$served), join(',', ('vllm-c') x 5),
         'session: turns alternating between the nodes stay on vllm-c');
ok t_cmp($control ne 'vllm-c' ? 1 : 0, 1,
         "without the session, the second node's fallback chooses ($control)");
ok t_cmp(redis_keys('session:*'), 1, 'the session lives in Redis');

# 2b. /compress turns are the fleet's: vllm-b serves 8 of its 10 slots
# (load 0.8 >= 0.5) as both nodes' scrapers see; requests through both
# nodes send one /compress per KVCacheActionInterval, not one per node.
emu_reset();
emu_config(lookup_override => { layout_info => {
    'vllm-b' => ['LocalCPUBackend', 64] } });
emu_instance(id => 'vllm-b', running => 8);
sleep 2.5;    # two scrape intervals: both nodes have seen the load
for my $n (0 .. 5) {
    my ($res) = $node[$n % 2]->post($ua[$n % 2], '/load/v1/chat/completions',
                                    chat_body(content => unique_words(20)));
    $failed++ unless $res->code == 200;
}
my $deadline = time + 5;
my $compresses = sub {
    scalar grep { $_->{role} eq 'controller' && $_->{path} eq '/compress' }
           @{ emu_stats()->{log} };
};
sleep 0.05 while $compresses->() < 1 && time < $deadline;
sleep 1;
ok t_cmp($compresses->(), 1,
         'loaded instance, requests through both nodes: one /compress');
ok t_cmp(redis_keys('compress:*'), 1, 'the turn lives in Redis');

# 3. Redis stopped mid-run: no request fails, each node on its own state.
stop_redis();
my $before = $failed;
emu_reset();
my $t0 = time;
make_hot();
my $elapsed = time - $t0;
ok t_cmp($failed - $before, 0, 'Redis down: no client request failed');
ok t_cmp($elapsed < 20 ? 1 : 0, 1,
         sprintf('... nor waited long (8 requests in %d ms)', 1000 * $elapsed));
ok t_cmp(settled_pins(2), 2, 'each node pinned on its own hot count');
for my $i (0, 1) {
    my $log = $node[$i]->error_log;
    my $left = () = $log =~ /\[kvcache\] fleet store redis \S+ unavailable/g;
    ok t_cmp($left, 1, "node $i logged leaving the fleet once");
}
$st = status(0);
ok t_cmp($st->{upstreams}{fleet}{errors} + $st->{upstreams}{fleet}{rejected}
         > 0 ? 1 : 0, 1, 'the failed fleet calls are counted');
# A session is still kept on one node.
emu_reset();
my %conv = (model => 'demo-model', messages => [
    { role => 'user', content => unique_words(400) } ]);
emu_seed(instance => 'vllm-c', body => \%conv);
my $first = served_by(via(0, kv_json()->encode(\%conv),
                          'X-Session-Id' => 'agent-local'));
emu_fault(role => 'controller', path => '/lookup', status => 500);
push @{ $conv{messages} }, { role => 'assistant', content => 'ok' },
    { role => 'user', content => unique_words(20) };
my $second = served_by(via(0, kv_json()->encode(\%conv),
                           'X-Session-Id' => 'agent-local'));
emu('/_emu/clear_faults', {});
ok t_cmp("$first,$second", 'vllm-c,vllm-c',
         'Redis down: a session stays on its engine within a node');
ok t_cmp($failed - $before, 0, 'still no failed request');

# 4. Redis back: shared again, once each node's breaker lets a probe by.
start_redis();
$deadline = time + 15;
my @back = (0, 0);
while (time < $deadline && !($back[0] && $back[1])) {
    for my $i (0, 1) {
        via($i, chat_body(content => unique_words(10)));
        $back[$i] = $node[$i]->error_log
                    =~ /\[kvcache\] fleet store redis \S+ answers again/;
    }
    sleep 0.2;
}
ok t_cmp($back[0] ? 1 : 0, 1, 'node 0 logged rejoining the fleet');
ok t_cmp($back[1] ? 1 : 0, 1, 'node 1 logged rejoining the fleet');
emu_reset();
make_hot();
ok t_cmp(settled_pins(1), 1, 'Redis back: a new hot prompt is pinned once');
emu_reset();
($served, $control) = session_engines('agent-fleet-2', 1);
ok t_cmp(join(',', @$served), join(',', ('vllm-c') x 5),
         'Redis back: a session alternating between the nodes stays');
ok t_cmp($failed, 0, 'no client request failed in the whole run');
for my $i (0, 1) {
    my $log = $node[$i]->error_log;
    my $left = () = $log =~ /fleet store redis \S+ unavailable/g;
    my $back = () = $log =~ /fleet store redis \S+ answers again/g;
    ok t_cmp("$left,$back", '1,1', "node $i: one outage, logged once each way");
}
$_->stop for @node;
