# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License.  You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0

package KVCache::Test;
# Helpers shared by the mod_kvcache tests: requests through httpd, and the
# upstream emulator's control API (tools/kvc_emulator.py).
use strict;
use warnings FATAL => 'all';

use Apache::Test ();
use Apache::TestRequest ();
use Digest::SHA qw(sha256_hex);
use Exporter 'import';
use HTTP::Request ();
use JSON::PP ();
use LWP::UserAgent ();
use Time::HiRes ();

our @EXPORT = qw(emu emu_reset emu_stats emu_calls emu_fault emu_config
                 emu_instance emu_seed emu_tokenize post_llm chat_body
                 completion_body unique_words sha256_hex decision_of
                 served_by body_hash_of kv_json);

my $json = JSON::PP->new->canonical->utf8;
my $ua = LWP::UserAgent->new(timeout => 30, keep_alive => 1);

sub kv_json { $json }

sub emu_url {
    my $path = shift;
    return sprintf 'http://127.0.0.1:%d%s',
        Apache::Test::vars('emu_ctl_port'), $path;
}

# POST to (or, without a body, GET from) the emulator's control API.
sub emu {
    my ($path, $body) = @_;
    my $req = defined $body
        ? HTTP::Request->new(POST => emu_url($path),
                             ['Content-Type' => 'application/json'],
                             $json->encode($body))
        : HTTP::Request->new(GET => emu_url($path));
    my $res = $ua->request($req);
    die "emulator $path: " . $res->status_line . "\n" . $res->content
        unless $res->is_success;
    return $res->content =~ /^\s*[\{\[]/ ? $json->decode($res->content)
                                         : $res->content;
}

sub emu_reset    { emu('/_emu/reset', {}) }
sub emu_stats    { emu('/_emu/stats') }
sub emu_fault    { emu('/_emu/fault', {@_}) }
sub emu_config   { emu('/_emu/config', {@_}) }
sub emu_instance { emu('/_emu/instance', {@_}) }
sub emu_seed     { emu('/_emu/seed', {@_}) }
sub emu_tokenize { emu('/_emu/tokenize', shift)->{tokens} }

# Calls the emulator counted for "role:path", e.g. emu_calls('controller',
# '/lookup').
sub emu_calls {
    my ($role, $path) = @_;
    return emu_stats()->{calls}->{"$role:$path"} // 0;
}

# Unique filler words, so tests do not share prompts by accident.
my $word_counter = 0;
sub unique_words {
    my ($n, $tag) = @_;
    $tag //= 'w';
    return join ' ', map { $tag . $$ . '_' . ($word_counter++) } 1 .. $n;
}

sub chat_body {
    my (%args) = @_;
    my %body = (
        messages => $args{messages}
            // [ { role => 'user', content => $args{content} // 'hello' } ],
        max_tokens => 8,
    );
    $body{model} = $args{model} if defined $args{model};
    return $json->encode(\%body);
}

sub completion_body {
    my (%args) = @_;
    my %body = (prompt => $args{prompt}, max_tokens => 8);
    $body{model} = $args{model} if defined $args{model};
    return $json->encode(\%body);
}

# POSTs raw bytes through httpd.  Extra headers as a list; returns the
# HTTP::Response.
sub post_llm {
    my ($path, $body, @headers) = @_;
    return Apache::TestRequest::POST($path,
        'Content-Type' => 'application/json', @headers, content => $body);
}

sub decision_of  { $_[0]->header('X-KVCache-Decision') // '' }
sub served_by    { $_[0]->header('X-Kvemu-Served-By') // '' }
sub body_hash_of { $_[0]->header('X-Kvemu-Body-Sha256') // '' }

1;
